package analysis

// LogitLensTokens decodes the residual stream of s on the token ids (one sequence of model
// ids) at every depth through the family's final norm and head, in the graph (see TokenLens;
// Prompt.Lens, which keeps the compiled graph for the next sequence). Any family.
func LogitLensTokens(s *Subject, ids []int32) (TokenLens, error) {
	return NewPrompt(s).Lens(ids)
}
