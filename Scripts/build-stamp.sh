#!/bin/sh
# Writes the build identity as Swift source. Run by BuildStampPlugin at build time; also run by
# the tests (with --hash-only) to check that the binary's stamp is the content it was built from.
#
#   build-stamp.sh ROOT OUTPUT.swift SWIFTC FILE...   (FILE relative to ROOT)
#   build-stamp.sh --hash-only ROOT FILE...
#
# The content hash is the SHA-256 of the lines "<sha256 of file>  <path>", one per file in the
# order given (the plugin sorts them): any edit, addition, removal or rename under Kernels/
# changes it, committed or not.
set -eu

content_hash() {
    root=$1; shift
    (cd "$root" && for f in "$@"; do sha256sum -- "$f"; done) | sha256sum | cut -d' ' -f1
}

if [ "${1:-}" = "--hash-only" ]; then
    shift; root=$1; shift
    content_hash "$root" "$@"
    exit 0
fi

root=$1; out=$2; swiftc=$3; shift 3
hash=$(content_hash "$root" "$@")
count=$#
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" = unknown ]; then
    dirty=0
elif [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    dirty=1
else
    dirty=0
fi
compiler=$("$swiftc" --version 2>/dev/null | head -n 1 | tr -d '"\\' || true)
[ -n "$compiler" ] || compiler=unknown

tmp="$out.tmp.$$"
cat > "$tmp" <<SWIFT
// Generated at build time by Scripts/build-stamp.sh (BuildStampPlugin). Do not edit.
// C entry points declared in CTritSupport.h: TritCore reads them without importing this module,
// so a new stamp (every commit) recompiles this file and relinks, not every module above it.

/// SHA-256 over the SHA-256 and path of every file under Kernels/ at build time.
@_cdecl("tritbench_stamp_kernels_content_hash")
public func tritbench_stamp_kernels_content_hash() -> UnsafePointer<CChar> { cString("$hash\\0") }
/// How many files under Kernels/ the hash covers.
@_cdecl("tritbench_stamp_kernel_file_count")
public func tritbench_stamp_kernel_file_count() -> Int { $count }
/// \`git rev-parse HEAD\` of the checkout at build time ("unknown" outside one).
@_cdecl("tritbench_stamp_git_revision")
public func tritbench_stamp_git_revision() -> UnsafePointer<CChar> { cString("$revision\\0") }
/// 1 when tracked files differed from HEAD at build time.
@_cdecl("tritbench_stamp_git_dirty")
public func tritbench_stamp_git_dirty() -> Int32 { $dirty }
/// First line of \`swiftc --version\` of the toolchain that built this binary.
@_cdecl("tritbench_stamp_compiler_version")
public func tritbench_stamp_compiler_version() -> UnsafePointer<CChar> { cString("$compiler\\0") }
SWIFT
mv -f "$tmp" "$out"
