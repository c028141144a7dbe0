#!/usr/bin/env bash
# install-deps.sh — install what nanoscope's corpus, notebooks and tests need, and only what is
# missing. Safe to run again: every step checks first.
#
#   Debian packages  rust-src (the default corpus), Jupyter (notebook, nbconvert, nbclient,
#                    ipykernel), chromium (the HTML render check), and libopenblas-dev with gcc
#                    (cgo): the go backend's matrix products run in OpenBLAS (gomlxmodel/blasdot;
#                    `go build -tags noblas` builds without it).
#   goimports        pinned golang.org/x/tools version; the GoNB kernel runs it on every cell.
#   GoNB kernel      the version pinned in go.mod (`tool github.com/janpfeifer/gonb`), installed
#                    as the Jupyter kernel "gonb" with its binary copied next to kernel.json.
#   playwright-core  from npm into scripts/live/node_modules (the live-Jupyter test), with
#                    Debian's nodejs and npm when node is missing.
#
# Needs Debian 12 (apt-get, run as root or with sudo) and Go at /usr/local/go or on PATH.
# Set INSTALL_GOPLS=1 to also install gopls (autocompletion when editing notebooks by hand; not
# needed to execute them; each kernel then also runs a gopls process).
set -euo pipefail

GOIMPORTS_VERSION=v0.40.0 # golang.org/x/tools; any version the module proxy serves for Go 1.26
GOPLS_VERSION=v0.21.0     # golang.org/x/tools/gopls, only with INSTALL_GOPLS=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf 'install-deps: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { log "Go is not installed (expected /usr/local/go/bin/go)"; exit 1; }

SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi

# --- Debian packages ---------------------------------------------------------------------------
# jupyter-notebook brings jupyter-core and ipykernel; jupyter-client the `jupyter kernelspec`
# command; jupyter-nbconvert `jupyter nbconvert` and its HTML templates; python3-nbclient
# executes notebooks; chromium renders the HTML for the render check; libopenblas-dev (cblas_sgemm)
# and gcc/libc6-dev (cgo) build the OpenBLAS matrix product into every nanoscope binary and cell.
PKGS=(rust-src jupyter-notebook jupyter-client jupyter-nbconvert python3-nbconvert python3-nbclient
	python3-ipykernel python3-jupyterlab-pygments chromium fonts-liberation
	libopenblas-dev gcc libc6-dev)
missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	log "apt-get install ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	log "Debian packages present: ${PKGS[*]}"
fi

# --- Go tools for the GoNB kernel --------------------------------------------------------------
# GoNB looks them up on the kernel's PATH. As root they go to /usr/local/bin (on every PATH);
# otherwise to $(go env GOPATH)/bin, which must then be on PATH.
if [ "$(id -u)" = 0 ]; then
	GOTOOLS_BIN=/usr/local/bin
else
	GOTOOLS_BIN=$(go env GOPATH)/bin
	case ":$PATH:" in *":$GOTOOLS_BIN:"*) ;; *) log "warning: add $GOTOOLS_BIN to PATH (goimports lives there)";; esac
fi

# installed_version BINARY prints the module version `go version -m` records for it, or nothing.
installed_version() {
	[ -x "$1" ] && go version -m "$1" 2>/dev/null | awk '$1 == "mod" {print $3; exit}'
}

if [ "$(installed_version "$GOTOOLS_BIN/goimports")" != "$GOIMPORTS_VERSION" ]; then
	log "go install golang.org/x/tools/cmd/goimports@$GOIMPORTS_VERSION -> $GOTOOLS_BIN"
	GOBIN=$GOTOOLS_BIN go install "golang.org/x/tools/cmd/goimports@$GOIMPORTS_VERSION"
else
	log "goimports $GOIMPORTS_VERSION present"
fi
if [ "${INSTALL_GOPLS:-0}" = 1 ]; then
	if [ "$(installed_version "$GOTOOLS_BIN/gopls")" != "$GOPLS_VERSION" ]; then
		log "go install golang.org/x/tools/gopls@$GOPLS_VERSION -> $GOTOOLS_BIN"
		GOBIN=$GOTOOLS_BIN go install "golang.org/x/tools/gopls@$GOPLS_VERSION"
	fi
fi

# --- GoNB kernel -------------------------------------------------------------------------------
# The version is the one go.mod pins for `go tool gonb`. --force_copy puts the binary next to
# kernel.json (instead of pointing into the Go build cache, which `go clean -cache` empties);
# --force_deps lets it install without gopls, which only serves interactive autocompletion.
GONB_VERSION=$(go list -m -f '{{.Version}}' github.com/janpfeifer/gonb)
KERNEL_DIR=$(jupyter --data-dir)/kernels/gonb
have_gonb=
if [ -x "$KERNEL_DIR/gonb" ] && [ -f "$KERNEL_DIR/kernel.json" ] &&
	[ "$(installed_version "$KERNEL_DIR/gonb")" = "$GONB_VERSION" ] &&
	grep -q "\"$KERNEL_DIR/gonb\"" "$KERNEL_DIR/kernel.json"; then
	have_gonb=1
fi
if [ -z "$have_gonb" ]; then
	log "installing the GoNB $GONB_VERSION Jupyter kernel into $KERNEL_DIR"
	# JUPYTER_DATA_DIR makes GoNB install where this Jupyter looks.
	# (Its output warns that gopls is missing, which --force_deps accepts; shown only on failure.)
	if ! out=$(JUPYTER_DATA_DIR=$(jupyter --data-dir) go tool gonb --install --force_copy --force_deps 2>&1) ||
		[ "$(installed_version "$KERNEL_DIR/gonb")" != "$GONB_VERSION" ]; then
		echo "$out" >&2
		log "GoNB kernel install failed: $KERNEL_DIR/gonb is not $GONB_VERSION"
		exit 1
	fi
else
	log "GoNB $GONB_VERSION kernel present in $KERNEL_DIR"
fi
kernels=$(jupyter kernelspec list 2>/dev/null)
grep -qE '^\s*gonb\s' <<<"$kernels" || { log "jupyter kernelspec list does not show gonb:"; echo "$kernels" >&2; exit 1; }

# --- live-Jupyter browser test (make live-check) ------------------------------------------------
# Playwright's driver from npm (playwright-core: no browser download; it drives Debian's
# chromium), pinned by scripts/live/package-lock.json. Node.js and npm from Debian when missing.
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	log "apt-get install nodejs npm"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
want_pw=$(node -p 'require("./scripts/live/package-lock.json").packages["node_modules/playwright-core"].version')
have_pw=$(node -p 'require("./scripts/live/node_modules/playwright-core/package.json").version' 2>/dev/null || true)
if [ "$have_pw" != "$want_pw" ]; then
	log "npm ci --prefix scripts/live (playwright-core $want_pw)"
	npm ci --prefix scripts/live --no-audit --no-fund --loglevel=error >/dev/null
else
	log "playwright-core $want_pw present in scripts/live/node_modules"
fi

log "ok: $(jupyter nbconvert --version 2>/dev/null | sed 's/^/nbconvert /'), $(chromium --version 2>/dev/null), goimports $GOIMPORTS_VERSION, gonb $GONB_VERSION"
