package analysis

// The thresholds of the diagnosis's rules, in one place: every finding (finding_*.go) and
// every verdict on H1–H7 (verdicts.go) compares its measurements against these. Each says what
// crossing it means and, where it was calibrated, on what.

// ParityTolerance is the largest |Δlogit| at a position that counts as "the same" between the
// training graph and the inference path: float summation order alone moves logits far less.
const ParityTolerance = 1e-3

// Verdicts (verdicts.go) and the parity rule (H2).
const (
	copyThreshold     = 0.5  // copy rate (non-repeat positions) above which the model "copies"
	selfSimThreshold  = 0.5  // share of top ≈ self logit above which output ≈ input embedding
	farBelowNats      = 1.0  // "far below" for losses
	unigramMarginNats = 0.1  // margin below the unigram entropy that shows use of context
	parityRelTol      = 1e-3 // max |Δlogits| relative to max |logit| for "no change"
	// H2 is refuted despite small differences when almost every argmax agrees and only a few
	// positions differ by more than ParityTolerance (8-bit rounding flips; see Parity).
	parityMinAgreement = 0.995
	parityMaxShareOver = 0.05
	// H2 is also refuted when the train/inference difference is within parityNoiseFactor × the
	// inference path's own rounding noise (Parity.Noise) and its argmax agreement no more than
	// parityArgmaxSlack below the noise's: rounding scales with the backend's arithmetic (TF32
	// on a GPU), a real mismatch (another mask, dropout, another RoPE) moves logits by O(1).
	parityNoiseFactor = 4.0
	parityArgmaxSlack = 0.01
)

// Margins of the catalog's comparisons of losses: a difference counts when it exceeds both
// minDeltaNats and sigmas standard errors of the paired per-position differences.
const (
	minDeltaNats = 0.1
	sigmas       = 4.0
	// permutingDeltaNats replaces minDeltaNats for a flip a model trained as loaded cannot gain
	// from (cannotHelp: one that rearranges the weights — gomlxmodel.PermutingConventions, the
	// placement search's edits — or narrows a declared sliding window), so a gain of sigmas
	// standard errors names it down to 0.02 nats. Blind kit 4b: Gemma's q/k
	// rows in the interleaved rotary layout (0.11 nats of excess) gained 0.083 ± 0.019 under
	// rope_pairing and were called healthy under the 0.1 floor; bench/results/blind-kit4b-20261207.md.
	permutingDeltaNats = 0.02
)

// Convention findings (finding_conventions.go).
const (
	// leakReadsTargetShare: a model trained where positions see later tokens reads its target
	// when run without the mask, predicting it below this share of the unigram CE (the family
	// gallery's builds trained without the mask: 0.06–0.36). A smaller gain from removing the
	// mask is the extra context undoing part of another fault (one layer's o_proj negated in a
	// transformers-trained Qwen2: 0.88).
	leakReadsTargetShare = 0.5
	// flattenFactor and flattenedShareMin: a run of the search is not where training leaves the
	// attention scale when its scores ×flattenFactor lower its CE by sigmas standard errors and by
	// this share of the run's own gain (flattenedRun). Measured: under the 22 conventions kits 4,
	// 4b and 4c name, at most 1.3 SE (2.3 % of the gain); the family gallery's named conventions,
	// at most 1.6 SE; the attention scale 1/head_dim undoing 26 % of a Mistral's q heads
	// reordered (kit 4d), 0.017 ± 0.003 nats (5.7 SE, 12 %). Sharpening is no test: the gallery's
	// briefly trained models gain up to 7.8 SE from scores ×1.25 (training sharpens attention and
	// logits as it goes), and ×0.8 on the logits tests calibration, not the convention.
	flattenFactor = "0.8"
	// widenZ and widenFactor: when no run of the search's first round holds and the best
	// confirmed one gains between widenZ and sigmas standard errors, the round is confirmed again
	// on widenFactor times the positions (windows of the token stream the screen did not use),
	// where the token stream holds them: a fault of 0.05 nats needs about 2000 positions to
	// reach 4 SE (kit 4: Gemma 2's post norms exchanged, 0.055 ± 0.015 nats on 768). So is a
	// run that holds but beats a rival mechanism's by between widenZ and sigmas standard errors
	// (kit 4f: GPT-NeoX's rotary dims saved last, rotary_dims=last 0.069 nats, 2.9 SE over no causal
	// mask on 1024 positions, 10 SE on 3780).
	widenZ            = 2.0
	widenFactor       = 4
	flattenedShareMin = 0.05
)

// The scale refit (scalefit.go). Measured (bench/results/kits-20261208.md, the family gallery's
// log): the controls of kits 4–4f and the gallery's 23 healthy builds gain at most 1.5 SE on the
// held-out half (most gains are negative: the refit overfits its half), true conventions re-run
// under their fix at most 1.3 SE; the faults no convention names, a value projection ×¼
// 0.197 ± 0.030 nats, one MLP output negated 0.074 ± 0.014, k negated 0.264 ± 0.038, the final
// norm read as 1 + w 0.208 ± 0.015. A model stopped far short of its plateau gains too (the
// 60-step test model of TestDiagnoseTrainedModels, 0.199 ± 0.045).
const (
	scaleFitSteps      = 40    // full-batch Adam steps at most
	scaleFitStallSteps = 10    // … ending when the last scaleFitStallSteps gained less than
	scaleFitStallNats  = 0.005 // scaleFitStallNats on the fit windows
	scaleFitLR         = 0.08  // Adam's step on each scale
	scaleFitMinAbs     = 0.01  // a scale crossing 0 steps over it
	scaleFitMinNats    = 0.03  // the refit's floor, below minDeltaNats: a fault of 0.09 nats moves 0.08
	scaleFitMoved      = 8     // tensors scored alone in the evidence
)

// target_offset (finding_offset.go).
const (
	// copyTrainedShare: a model trained on unshifted labels copies with a CE below this share of
	// the unigram CE (copying is learned almost perfectly; label smoothing of 0.1 over a 50k
	// vocabulary leaves about 1.4 nats, a fifth of its unigram).
	copyTrainedShare = 0.25
)

// weights_untrained and tensors_untrained (untrained.go, finding_untrained.go).
const (
	// alignZMax: |z| below it is compatible with a draw independent of the data (a Gaussian
	// tail of 4.5 sd has probability 7e-6 per tensor).
	alignZMax = 4.5
	// spectrumKSMax: KS distance to the MP law below which an embedding looks like a random
	// draw (random matrices of our shapes measure 0.01–0.05 at ≥ 32 columns; trained embeddings
	// 0.5–0.7).
	spectrumKSMax = 0.15
	// gradFloor: a gradient norm below gradFloor × the largest one counts as none (rounding noise).
	gradFloor = 1e-6
	// swapSigmas: a fresh draw in place of a matrix that only its statistics call untrained
	// (not at its initialiser's distribution) must give the tensor's CE within swapSigmas paired
	// standard errors, either way (blind kit 4b: trained tensors of models broken elsewhere moved
	// it by +10.7 and −3.9 SE; tensors replaced by a fresh draw by 0.8–2.5 SE).
	swapSigmas = 3.0
	// constTol: a vector whose entries lie within constTol·max(1, |c|) of a constant c is at c
	// (a few optimizer steps at a small rate move a fresh norm weight by less).
	constTol = 1e-3
)

// context_free (finding_contextfree.go) and H5 (verdicts.go).
const (
	// contextMIMax: mean KL(p_t ‖ p̄) below it means the prediction hardly changes with the
	// context (healthy models measure ≥ 1 nat on code); H5 is refuted only above it.
	contextMIMax = 0.1
	// topShareMin: an argmax shared by this share of positions is a collapse to one token.
	topShareMin = 0.9
	// collapseAboveNats: a collapse trained into the model is within this of the unigram CE.
	collapseAboveNats = 0.5
)

// Earned health (earned.go): CE by position and the logit lens's depth.
const (
	posBreakNats = 0.25 // a rise of the CE with position smaller than this is not a break
	posBinMin    = 30   // bins with fewer positions are not compared (too noisy)
	// posBreakFrom: bins before this position are not compared; the first positions of a
	// window see almost no context and their CE depends on the data's own structure (on the
	// gallery's stream position 1 predicts better than positions 2–3).
	posBreakFrom   = 4
	lensMarginAcc  = 0.05 // an earlier lens point must beat the output by this much accuracy
	lensMinLayers  = 2    // the lens check needs at least this many blocks
	lensNeedsFinal = 0.05 // and an output that predicts at all (accuracy above this)
)

// activation_overflow_fp16 and padded_vocab_mass (finding_info.go).
const (
	// fp16Max is the largest finite float16.
	fp16Max = 65504
	// paddedMassLimit is the mean probability on padded ids above which they are a fault: one
	// sampled token in a hundred would be an id no tokenizer decodes.
	paddedMassLimit = 0.01
)

// Weights on a coarse grid (copies.go: coarseGrids).
const (
	gridGroup     = 32   // entries of a group (row-major, as stored)
	maxGridGroups = 4096 // groups read per matrix, spread through it (131072 entries)
	minGridValues = 256  // matrices with fewer non-zero entries in those groups are not judged
	// gridRepeatShare: share of non-zero entries repeating one of their group above which a
	// matrix is on a grid. Measured: trained and random matrices stored in bf16 at most 0.039
	// (kits 4–4f, every matrix of every checkpoint), fp16 0.031 and fp32 0.000 (the Hugging Face
	// fixtures, the gallery); kit 4f's int3 MLP 0.82; TestCoarseGrids' int4 per group 0.64–0.75,
	// fp8 e4m3 0.18.
	gridRepeatShare = 0.12
	// sparseShare: share of exactly zero entries above which a matrix is pruned or rounded
	// (sparseMatrices). Measured: 0.0000 in every matrix of every healthy checkpoint of kits
	// 4–4g, the Hugging Face fixtures and the gallery (bf16, fp16, fp32); kit 4g's 2:4 pruning
	// 0.50, GPTQ with its zero point off 0.10; kit 4f's int3 MLP 0.50 and zeroed q head 0.25.
	sparseShare = 0.02
)

// The arrangement search (arrangement.go).
const (
	maxArrangements = 8 // rearrangements the search re-runs, most significant first
	keepPerAxis     = 4 // candidates each matrix axis offers
	// arrangePriceFactor: the first-order prices are taken on this many times the diagnosis's
	// positions, less the search's confirmation windows. On the screen alone (252 positions) a
	// transformers-trained GPT-2 with the k block of layer 0 rolled inside its heads had its
	// rearrangement ranked below two others (0.26 and 0.16 nats predicted, wrong); on 512 it led
	// with 0.43 (TestArrangementSearch).
	arrangePriceFactor = 2
	// sameFunctionNats: two runs whose per-position losses all agree to this are one function
	// (float rounding of equivalent rearrangements moves them by ~1e-6).
	sameFunctionNats = 1e-4
	// ablatedShareMin: a rearrangement must beat zeroing what it moves by this share of its gain
	// (ambiguousFinding; measured shares there).
	ablatedShareMin = 0.5
)
