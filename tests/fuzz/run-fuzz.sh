#!/bin/sh
# run-fuzz.sh FUZZER CORPUS SECONDS ARTIFACT_DIR
#
# A short, bounded libFuzzer run on a throw-away copy of the seed corpus
# (libFuzzer adds what it finds to its first corpus directory, and the
# checked-in one must stay as written).  Crashing inputs are kept in
# ARTIFACT_DIR.
set -eu

fuzzer=$1
corpus=$2
seconds=$3
artifacts=$4

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cp "$corpus"/* "$work"/
mkdir -p "$artifacts"

"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -max_len=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "$work"
