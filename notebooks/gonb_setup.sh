#!/usr/bin/env bash
# gonb_setup.sh — point a GoNB kernel's scratch module at this checkout of nanoscope.
#
# Run it from the first cell of every notebook as
#
#     !*bash "$GONB_DIR/gonb_setup.sh"
#
# `!*` runs in $GONB_TMP_DIR, the temporary module in which GoNB compiles each cell; $GONB_DIR is
# the notebook's directory. The script walks up from $GONB_DIR to the go.mod that declares
# `module nanoscope` and then, in the scratch module:
#   - replaces nanoscope with that directory (so `import "nanoscope/..."` compiles the working
#     tree, wherever it was cloned) and requires it;
#   - requires every module at the version nanoscope's go.mod pins — among them
#     github.com/janpfeifer/gonb v0.11.4, so the `go get` GoNB runs before each cell never asks
#     the module proxy for gonbui@latest (which it refuses);
#   - copies nanoscope's go.sum, so no checksum has to be fetched.
# It is idempotent: running it again rewrites the same requirements.
#
# A notebook outside notebooks/ (anywhere in the checkout, or outside it with $NANOSCOPE_ROOT
# set) runs it as
#
#     !*bash "${NANOSCOPE_ROOT:-$(git -C "$GONB_DIR" rev-parse --show-toplevel)}/notebooks/gonb_setup.sh"
#
# The checkout is $NANOSCOPE_ROOT when set, else the first go.mod of module nanoscope above
# $GONB_DIR, else the one above this script.
set -euo pipefail

: "${GONB_TMP_DIR:?run me with !* from a GoNB cell}"
is_root() { [ -f "$1/go.mod" ] && grep -qE '^module[[:space:]]+nanoscope[[:space:]]*$' "$1/go.mod"; }
find_root() { # the first directory at or above $1 that is the checkout
	local dir
	dir=$(cd "$1" && pwd)
	while :; do
		if is_root "$dir"; then
			echo "$dir"
			return
		fi
		[ "$dir" = / ] && return
		dir=$(dirname "$dir")
	done
}
if [ -n "${NANOSCOPE_ROOT:-}" ]; then
	if ! is_root "$NANOSCOPE_ROOT"; then
		echo "gonb_setup.sh: \$NANOSCOPE_ROOT=$NANOSCOPE_ROOT holds no go.mod with 'module nanoscope'" >&2
		exit 1
	fi
	root=$(cd "$NANOSCOPE_ROOT" && pwd)
else
	root=$(find_root "${GONB_DIR:-$PWD}")
	[ -n "$root" ] || root=$(find_root "$(dirname "${BASH_SOURCE[0]}")")
fi
if [ -z "$root" ]; then
	echo "gonb_setup.sh: no go.mod with 'module nanoscope' above ${GONB_DIR:-$PWD} or $(dirname "${BASH_SOURCE[0]}"): set NANOSCOPE_ROOT to your nanoscope checkout" >&2
	exit 1
fi

cd "$GONB_TMP_DIR"
args=(-replace="nanoscope=$root" -require="nanoscope@v0.0.0-00010101000000-000000000000")
# The require block of nanoscope's go.mod, as "path version" lines.
while read -r path version; do
	args+=(-require="$path@$version")
done < <(go mod edit -json "$root/go.mod" | awk '
	/^\t"Require": \[/ { inreq = 1; next }
	inreq && /^\t\]/ { inreq = 0 }
	inreq && /"Path":/ { gsub(/[",]/, "", $2); path = $2 }
	inreq && /"Version":/ { gsub(/[",]/, "", $2); print path, $2 }')
go mod edit "${args[@]}"
cat "$root/go.sum" >>go.sum
sort -u -o go.sum go.sum
echo "GoNB scratch module $GONB_TMP_DIR: nanoscope => $root, $((${#args[@]} - 2)) pinned requirements"
