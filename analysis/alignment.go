package analysis

import (
	"math"
	"slices"
)

// Alignment says what the logits point at, position by position: the current input token
// (copying) or the next token (prediction), and whether the top logit is just the current
// token's embedding scored against itself through the final norm and a tied head.
type Alignment struct {
	Positions int `json:"positions"`
	// CopyRate is the share of positions whose argmax is the current input token;
	// NextTokenAccuracy the share whose argmax is the next token.
	CopyRate          float64 `json:"copy_rate"`
	NextTokenAccuracy float64 `json:"next_token_accuracy"`
	// RepeatRate is the share of positions whose next token equals the current one, where
	// copying and predicting coincide. The *NonRepeat rates count only the other positions.
	RepeatRate            float64 `json:"repeat_rate"`
	CopyRateNonRepeat     float64 `json:"copy_rate_non_repeat"`
	NextAccuracyNonRepeat float64 `json:"next_token_accuracy_non_repeat"`
	// Windows is the number of windows the positions come from; the *SE fields are the
	// standard errors of the four rates above over those windows (ratioSE; 0 for one window).
	Windows                 int     `json:"windows"`
	CopyRateSE              float64 `json:"copy_rate_se"`
	NextTokenAccuracySE     float64 `json:"next_token_accuracy_se"`
	CopyRateNonRepeatSE     float64 `json:"copy_rate_non_repeat_se"`
	NextAccuracyNonRepeatSE float64 `json:"next_token_accuracy_non_repeat_se"`
	// Ranks of the current and of the next token among all vocabulary entries (0 = top).
	CurrentRank RankStats `json:"current_rank"`
	NextRank    RankStats `json:"next_rank"`
	// Mean logits of the current token, of the next token, and of the top entry.
	MeanLogitCurrent float64 `json:"mean_logit_current"`
	MeanLogitNext    float64 `json:"mean_logit_next"`
	MeanMaxLogit     float64 `json:"mean_max_logit"`
	SelfSimilarity   SelfSim `json:"self_similarity"`
}

// SelfSim compares each position's top logit with the self logit of its current token c:
// norm_final(e_c) · head_c, what the model would output if its final hidden state were the
// input embedding (head = tok_embed when tied, so the self logit is ‖e_c‖·sqrt(D) when
// norm_final is 1). A share near 1 means "output ≈ input embedding".
type SelfSim struct {
	Tied bool `json:"tied"`
	// MeanSelfLogit is the mean of norm_final(e_c)·head_c; MeanSqrtDNorm the mean of
	// sqrt(D)·‖e_c‖, the value a fresh tied model's self logit takes.
	MeanSelfLogit float64 `json:"mean_self_logit"`
	MeanSqrtDNorm float64 `json:"mean_sqrt_d_norm"`
	// MeanAbsTopMinusSelf and MaxAbsTopMinusSelf are over positions of |top − self|;
	// ShareWithin1Pct the share of positions with |top − self| ≤ 1%·|self|.
	MeanAbsTopMinusSelf float64 `json:"mean_abs_top_minus_self"`
	MaxAbsTopMinusSelf  float64 `json:"max_abs_top_minus_self"`
	ShareWithin1Pct     float64 `json:"share_within_1pct"`
}

// RankStats summarises a distribution of ranks.
type RankStats struct {
	Mean      float64  `json:"mean"`
	Median    float64  `json:"median"`
	ShareTop  float64  `json:"share_rank0"`
	Histogram []Bucket `json:"histogram"`
}

// Bucket is the share of ranks in [Lo, Hi]; Hi = −1 means no upper bound.
type Bucket struct {
	Lo    int     `json:"lo"`
	Hi    int     `json:"hi"`
	Share float64 `json:"share"`
}

var rankBuckets = [][2]int{{0, 0}, {1, 1}, {2, 4}, {5, 9}, {10, 99}, {100, 999}, {1000, -1}}

func rankStats(ranks []int) RankStats {
	if len(ranks) == 0 {
		return RankStats{}
	}
	sorted := slices.Clone(ranks)
	slices.Sort(sorted)
	n := len(sorted)
	var sum float64
	for _, r := range sorted {
		sum += float64(r)
	}
	med := float64(sorted[n/2])
	if n%2 == 0 {
		med = (float64(sorted[n/2-1]) + float64(sorted[n/2])) / 2
	}
	st := RankStats{Mean: sum / float64(n), Median: med}
	for _, b := range rankBuckets {
		cnt := 0
		for _, r := range sorted {
			if r >= b[0] && (b[1] < 0 || r <= b[1]) {
				cnt++
			}
		}
		st.Histogram = append(st.Histogram, Bucket{b[0], b[1], float64(cnt) / float64(n)})
	}
	st.ShareTop = st.Histogram[0].Share
	return st
}

// selfNames are the tensors of the self logit: the token embedding, the head it is scored
// against (the embedding itself when tied) and the final norm's weight and bias ("" for none).
func (s *Subject) selfNames() (embed, head, normW, normB string) {
	sp := s.spec()
	return sp.Embed, sp.Head, sp.NormFinal, sp.NormFinalBias
}

// normEps is the final norm's epsilon.
func (s *Subject) normEps() float64 { return s.spec().NormEps }

// selfLogit returns norm_final(e_id) · head_id and sqrt(D)·‖e_id‖, in float64. The final norm
// is RMSNorm (the ternary model, Llama) or LayerNorm with its bias (GPT-2).
func (s *Subject) selfLogit(id int32) (self, sqrtDNorm float64) {
	d := s.dims().DModel
	en, hn, wn, bn := s.selfNames()
	e := s.Params[en].Data[int(id)*d : int(id+1)*d]
	h := s.Params[hn].Data[int(id)*d : int(id+1)*d]
	var w []float32 // nil: a norm without weight (nanochat's)
	if wn != "" {
		w = s.Params[wn].Data
	}
	var ss, mean float64
	for _, x := range e {
		ss += float64(x) * float64(x)
	}
	sqrtDNorm = math.Sqrt(float64(d) * ss)
	if bn == "" { // RMSNorm
		rms := math.Sqrt(ss/float64(d) + s.normEps())
		for j := range e {
			self += float64(e[j]) / rms * weightAt(w, j) * float64(h[j])
		}
		return self, sqrtDNorm
	}
	for _, x := range e { // LayerNorm: (e − mean)/√(var + eps)·w + b
		mean += float64(x)
	}
	mean /= float64(d)
	var v float64
	for _, x := range e {
		v += (float64(x) - mean) * (float64(x) - mean)
	}
	sd := math.Sqrt(v/float64(d) + s.normEps())
	b := s.Params[bn].Data
	for j := range e {
		self += ((float64(e[j])-mean)/sd*float64(w[j]) + float64(b[j])) * float64(h[j])
	}
	return self, sqrtDNorm
}

// weightAt is a norm's weight j: 1 for a norm without weight (w nil).
func weightAt(w []float32, j int) float64 {
	if w == nil {
		return 1
	}
	return float64(w[j])
}

// LogitAlignment measures copy rate, next-token accuracy, rank distributions and the
// self-similarity test over the windows w, on the subject's inference path.
func LogitAlignment(s *Subject, w *Windows) (Alignment, error) {
	pr, err := s.probe(w)
	if err != nil {
		return Alignment{}, err
	}
	V := pr.V
	var a Alignment
	a.SelfSimilarity.Tied = s.tied()
	var copies, hits, repeats, copiesNR, hitsNR int
	var sumCur, sumNext, sumMax, sumSelf, sumNorm, sumAbs, maxAbs float64
	var within int
	var curRanks, nextRanks []int
	type selfVal struct{ self, norm float64 }
	selfCache := map[int32]selfVal{}
	W := len(w.Inputs)
	// per window: positions, copies, hits, positions with next ≠ current, copies and hits there
	perPos, perCopy, perHit := make([]float64, W), make([]float64, W), make([]float64, W)
	perNR, perCopyNR, perHitNR := make([]float64, W), make([]float64, W), make([]float64, W)
	for k, row := range w.Inputs {
		perPos[k] = float64(len(row))
		for t, cur := range row {
			nxt := w.Next[k][t]
			lg := pr.logits[k][t*V : (t+1)*V]
			top, arg := lg[0], 0
			for j, x := range lg {
				if x > top {
					top, arg = x, j
				}
			}
			lc, ln := lg[cur], lg[nxt]
			rc, rn := 0, 0
			for _, x := range lg {
				if x > lc {
					rc++
				}
				if x > ln {
					rn++
				}
			}
			curRanks, nextRanks = append(curRanks, rc), append(nextRanks, rn)
			sumCur += float64(lc)
			sumNext += float64(ln)
			sumMax += float64(top)
			isCopy, isHit := arg == int(cur), arg == int(nxt)
			if isCopy {
				copies++
				perCopy[k]++
			}
			if isHit {
				hits++
				perHit[k]++
			}
			if cur == nxt {
				repeats++
			} else {
				perNR[k]++
				if isCopy {
					copiesNR++
					perCopyNR[k]++
				}
				if isHit {
					hitsNR++
					perHitNR[k]++
				}
			}
			sv, ok := selfCache[cur]
			if !ok {
				sv.self, sv.norm = s.selfLogit(cur)
				selfCache[cur] = sv
			}
			sumSelf += sv.self
			sumNorm += sv.norm
			diff := math.Abs(float64(top) - sv.self)
			sumAbs += diff
			maxAbs = max(maxAbs, diff)
			if diff <= 0.01*math.Abs(sv.self) {
				within++
			}
		}
	}
	n := float64(w.Positions())
	a.Positions = w.Positions()
	a.CopyRate, a.NextTokenAccuracy = float64(copies)/n, float64(hits)/n
	a.RepeatRate = float64(repeats) / n
	if nr := a.Positions - repeats; nr > 0 {
		a.CopyRateNonRepeat, a.NextAccuracyNonRepeat = float64(copiesNR)/float64(nr), float64(hitsNR)/float64(nr)
	}
	a.Windows = W
	a.CopyRateSE, a.NextTokenAccuracySE = ratioSE(perCopy, perPos), ratioSE(perHit, perPos)
	a.CopyRateNonRepeatSE, a.NextAccuracyNonRepeatSE = ratioSE(perCopyNR, perNR), ratioSE(perHitNR, perNR)
	a.CurrentRank, a.NextRank = rankStats(curRanks), rankStats(nextRanks)
	a.MeanLogitCurrent, a.MeanLogitNext, a.MeanMaxLogit = sumCur/n, sumNext/n, sumMax/n
	a.SelfSimilarity.MeanSelfLogit = sumSelf / n
	a.SelfSimilarity.MeanSqrtDNorm = sumNorm / n
	a.SelfSimilarity.MeanAbsTopMinusSelf = sumAbs / n
	a.SelfSimilarity.MaxAbsTopMinusSelf = maxAbs
	a.SelfSimilarity.ShareWithin1Pct = float64(within) / n
	return a, nil
}
