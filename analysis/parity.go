package analysis

// Parity compares the logits of the same input through the training graph (the trainer's
// objective, gomlxmodel.TrainingObjective, differentiated with respect to every parameter as a
// training step does) and through the inference Runner (H2).
type Parity struct {
	Windows   int `json:"windows"`
	Positions int `json:"positions"`
	// MaxAbsDelta is max |logits_train − logits_infer|; MaxAbsLogit the largest |logit| (for
	// scale); ArgmaxAgreement the share of positions whose argmax agrees.
	MaxAbsDelta     float64 `json:"max_abs_delta"`
	MaxAbsLogit     float64 `json:"max_abs_logit"`
	ArgmaxAgreement float64 `json:"argmax_agreement"`
	// MeanAbsDelta is the mean |Δ| over all logits; PositionsOverTol the share of positions
	// with some |Δ| above ParityTolerance: an 8-bit activation rounding that lands on the other
	// side of a boundary because the two graphs sum in a different order moves the logits of a
	// few positions by up to a few tenths (REFERENCE.md §2), a real mismatch moves most of them.
	MeanAbsDelta     float64 `json:"mean_abs_delta"`
	PositionsOverTol float64 `json:"positions_over_tol"`
	// GradNorm is the global gradient norm the training graph computed (proof that the
	// backward pass was built).
	GradNorm float64 `json:"grad_norm"`
	// Noise is the same comparison between two runs of the inference path itself: the windows
	// as one batch against one window at a time — the same function compiled for another
	// shape, so only the arithmetic's rounding differs (summation order, fusion, and on a GPU
	// the TF32 products XLA uses for float32 by default). It is the floor under which a
	// train/inference difference is rounding, whatever the backend and precision.
	Noise ParityNoise `json:"noise"`
}

// ParityNoise is the rounding floor of Parity: max and mean |Δlogit| and argmax agreement
// between the inference path on a batch and on its windows one at a time.
type ParityNoise struct {
	MaxAbsDelta     float64 `json:"max_abs_delta"`
	MeanAbsDelta    float64 `json:"mean_abs_delta"`
	ArgmaxAgreement float64 `json:"argmax_agreement"`
}

// TrainInferenceParity runs the windows w through both paths and compares their logits. It
// shares one backward pass with GradientFlow on the same windows (see trainPass).
func TrainInferenceParity(s *Subject, w *Windows) (Parity, error) {
	tp, err := s.trainPass(w)
	if err != nil {
		return Parity{}, err
	}
	return tp.par, nil
}

// parity compares the training graph's logits of w with the inference path's (infer, the
// windows as one batch), and the batch with each window run alone (the rounding floor);
// GradNorm is left to the caller.
func parity(r *engine, w *Windows, train, infer []float32, V int) (Parity, error) {
	p := Parity{Windows: len(w.Inputs), Positions: w.Positions()}
	d := CompareLogits(train, infer, V)
	p.MaxAbsDelta, p.MeanAbsDelta, p.ArgmaxAgreement, p.PositionsOverTol, p.MaxAbsLogit =
		d.MaxAbs, d.MeanAbs, d.Agreement, d.ShareOverTol, d.MaxAbsB
	var noise LogitDiff
	n := len(infer) / len(w.Inputs)
	for k, win := range w.Inputs {
		single, err := r.logits([][]int32{win})
		if err != nil {
			return Parity{}, err
		}
		e := CompareLogits(single, infer[k*n:(k+1)*n], V)
		noise.MaxAbs = max(noise.MaxAbs, e.MaxAbs)
		noise.MeanAbs += e.MeanAbs / float64(len(w.Inputs))
		noise.Agreement += e.Agreement / float64(len(w.Inputs))
	}
	p.Noise = ParityNoise{MaxAbsDelta: noise.MaxAbs, MeanAbsDelta: noise.MeanAbs, ArgmaxAgreement: noise.Agreement}
	return p, nil
}
