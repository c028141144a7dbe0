#!/usr/bin/env bash
# run-notebooks.sh — execute notebooks headlessly and render them to HTML.
#
#   scripts/run-notebooks.sh [NN ...]     (default: every notebooks/NN_*.ipynb, in order)
#
# Any notebooks/NN_name.ipynb is picked up. For each, in the order given:
#   out/NN_name.ipynb   the executed notebook (jupyter nbconvert --execute --to notebook)
#   out/NN_name.html    that notebook rendered for a browser (jupyter nbconvert --to html)
#   out/report/NN_name.html  the same without its code cells (--no-input) and without the
#                       kernel-wiring and stderr outputs (scripts/nbcheck.py): results only
#   out/logs/NN_name.log  nbconvert's and the GoNB kernel's own log (printed on failure)
# The notebooks themselves write their figures to out/plots/. A cell error stops the run with a
# non-zero exit status. Each notebook's wall time is printed, and the table is kept in
# out/logs/notebook-times.tsv. A cell fails when nbconvert reports an error or, since GoNB
# replies "ok" to a cell whose program panics, when scripts/nbcheck.py finds its
# "exit status N" in the executed notebook.
#
# NB_TIMEOUT (seconds, default 1200) bounds each cell. NB_JOBS (default 1) runs that many
# notebooks at a time, started in the order given; their lines are printed as they finish, the
# table lists them in order. Each wall time then includes the time it shared the machine, and
# the total is what to compare. Notebooks that need the same trained run wait for one another
# (nbutil.EnsureVariantRun trains under a lock).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
NB_TIMEOUT=${NB_TIMEOUT:-1200}
NB_JOBS=${NB_JOBS:-1}
# debugpy (pulled in by ipykernel) warns about frozen modules on every start.
export PYDEVD_DISABLE_FILE_VALIDATION=1

kernels=$(jupyter kernelspec list 2>/dev/null || true)
if ! grep -qE '^\s*gonb\s' <<<"$kernels"; then
	echo "run-notebooks: the GoNB Jupyter kernel is not installed; run 'make deps' (scripts/install-deps.sh)" >&2
	exit 1
fi

notebooks=()
if [ $# -eq 0 ]; then
	for nb in notebooks/[0-9][0-9]_*.ipynb; do
		[ -e "$nb" ] && notebooks+=("$nb")
	done
else
	for n in "$@"; do
		match=(notebooks/"$n"_*.ipynb)
		if [ ! -e "${match[0]}" ]; then
			echo "run-notebooks: no notebook notebooks/${n}_*.ipynb" >&2
			exit 1
		fi
		notebooks+=("${match[@]}")
	done
fi
[ ${#notebooks[@]} -gt 0 ] || { echo "run-notebooks: no notebooks" >&2; exit 1; }

# since START prints the seconds elapsed since START (an $EPOCHREALTIME value), to 0.1 s.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

mkdir -p out/logs out/plots out/report
times=out/logs/notebook-times.tsv

# run_one NB executes, checks and renders one notebook; it prints its line and writes its
# wall time to out/logs/NAME.seconds, or prints the failure and returns 1.
run_one() {
	local nb=$1 name log start secs failed=
	name=$(basename "$nb" .ipynb)
	log=out/logs/$name.log
	start=$EPOCHREALTIME
	rm -f "out/logs/$name.seconds"
	if ! jupyter nbconvert --execute --to notebook --output-dir out --output "$name" \
		--ExecutePreprocessor.timeout="$NB_TIMEOUT" "$nb" >"$log" 2>&1; then
		# The cell error (nbclient's CellExecutionError) is at the end of the log.
		printf 'notebook %-28s FAILED after %s s (log: %s)\n%s\n' "$name" "$(since "$start")" "$log" \
			"$(grep -v -E '^[IWE][0-9]{4} ' "$log" | tail -n 60)" >&2
		return 1
	fi
	# GoNB replies "ok" to a cell whose program panicked or exited non-zero: nbcheck.py finds
	# those (and sets the Go lexer for the HTML export).
	/usr/bin/python3 scripts/nbcheck.py "out/$name.ipynb" "out/logs/$name.report.ipynb" 2>>"$log" || failed=1
	# Rendered even when a cell failed, so that the failure can be read in a browser too.
	if ! jupyter nbconvert --to html --output-dir out --output "$name" "out/$name.ipynb" >>"$log" 2>&1; then
		printf 'notebook %-28s HTML export FAILED (log: %s)\n%s\n' "$name" "$log" "$(tail -n 30 "$log")" >&2
		return 1
	fi
	if ! jupyter nbconvert --to html --no-input --output-dir out/report --output "$name" "out/logs/$name.report.ipynb" >>"$log" 2>&1; then
		printf 'notebook %-28s results-only HTML export FAILED (log: %s)\n%s\n' "$name" "$log" "$(tail -n 30 "$log")" >&2
		return 1
	fi
	if [ -n "$failed" ]; then
		printf 'notebook %-28s FAILED after %s s (a cell failed: see out/%s.html or %s)\n%s\n' "$name" "$(since "$start")" "$name" "$log" \
			"$(sed -n '/code cell [0-9]* failed:/,$p' "$log" | tail -n 60)" >&2
		return 1
	fi
	secs=$(since "$start")
	printf 'notebook %-28s %6s s  -> out/%s.html\n' "$name" "$secs" "$name"
	echo "$secs" >"out/logs/$name.seconds"
}

total_start=$EPOCHREALTIME
status=0
running=0
for nb in "${notebooks[@]}"; do
	if [ "$running" -ge "$NB_JOBS" ]; then
		wait -n || status=1
		running=$((running - 1))
	fi
	[ $status -eq 0 ] || break
	run_one "$nb" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || status=1
	running=$((running - 1))
done
[ $status -eq 0 ] || exit 1
total=$(since "$total_start")
printf 'notebook\tseconds\n' >"$times"
for nb in "${notebooks[@]}"; do
	name=$(basename "$nb" .ipynb)
	printf '%s\t%s\n' "$name" "$(cat "out/logs/$name.seconds")" >>"$times"
	rm -f "out/logs/$name.seconds"
done
printf 'notebooks: %d executed in %s s (%d at a time)\n' "${#notebooks[@]}" "$total" "$NB_JOBS"
printf 'total\t%s\n' "$total" >>"$times"
