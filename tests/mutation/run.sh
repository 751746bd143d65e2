#!/usr/bin/env bash
# Mutation testing of the domain core (models/values.py, verdict.py, passtoken.py) with mutmut.
# Not part of CI: a full run takes long. See tests/mutation/README.md.
#
#   tests/mutation/run.sh              # full run, then the score per module and the survivors
#   tests/mutation/run.sh recheck DIR  # after adding tests: only the survivors of the full run
#                                      # in DIR (and every mutant of a function changed since)
#                                      # run again; the score merges both runs
#   tests/mutation/run.sh score        # the score of the last run again
#   tests/mutation/run.sh show NAME    # the diff of one mutant
#
# mutmut reads its settings from the current directory, so the run happens in a scratch copy
# of the tree ($KAKOU_MUTATION_DIR, default /tmp/kakou-mutation) with a setup.cfg of its own:
# the checkout gets neither a [tool.mutmut] section nor a mutants/ directory.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
work="${KAKOU_MUTATION_DIR:-/tmp/kakou-mutation}"
cmd="${1:-run}"
modules=(models/values.py models/verdict.py models/passtoken.py)
# The fast unit tests of those modules (no desk, no office): a mutant runs only the ones that
# reach its function.
tests=(
  tests/test_values.py tests/test_values_edges.py
  tests/test_verdict.py tests/test_verdict_edges.py
  tests/test_passtoken.py tests/test_passtoken_edges.py
  tests/test_pass_rules.py tests/test_forged_passes.py tests/test_pinned_behaviours.py
)
# One module with its own tests only, e.g. on a busy machine (passtoken's mutants reach every
# pass test above): KAKOU_MUTATION_MODULES=models/passtoken.py
#   KAKOU_MUTATION_TESTS="tests/test_passtoken.py tests/test_passtoken_edges.py" tests/mutation/run.sh
if [ -n "${KAKOU_MUTATION_MODULES:-}" ]; then read -r -a modules <<< "$KAKOU_MUTATION_MODULES"; fi
if [ -n "${KAKOU_MUTATION_TESTS:-}" ]; then read -r -a tests <<< "$KAKOU_MUTATION_TESTS"; fi

prepare() {
  rm -rf "$work"
  mkdir -p "$work"
  # the tracked tree as it is in the checkout (uncommitted edits included), without caches
  (cd "$here" && git ls-files -co --exclude-standard -z models tests pyproject.toml) |
    (cd "$here" && xargs -0 cp --parents -t "$work")
  {
    echo "[mutmut]"
    echo "source_paths ="
    echo "    models/"
    echo "only_mutate ="
    printf '    %s\n' "${modules[@]}"
    echo "also_copy ="
    echo "    tests/"
    echo "pytest_add_cli_args = -p no:cacheprovider -q"
    echo "pytest_add_cli_args_test_selection ="
    printf '    %s\n' "${tests[@]}"
  } > "$work/setup.cfg"
}

mutmut_run() {
  # The CPU is shared with other work: lowest priority, two workers.
  (cd "$work" && nice -n 19 mutmut run --max-children "${KAKOU_MUTATION_JOBS:-2}" "$@") || true
}

case "$cmd" in
  run)
    prepare
    mutmut_run
    exec python "$here/tests/mutation/score.py" "$work"
    ;;
  recheck)
    base="$(cd "${2:?usage: $0 recheck DIR-OF-A-FULL-RUN}" && pwd)"
    [ "$base" != "$work" ] || { echo "recheck needs another KAKOU_MUTATION_DIR than $base" >&2; exit 2; }
    prepare
    mapfile -t names < <(
      (cd "$base" && mutmut results) | awk -F': ' '$2 != "killed" && $2 != "timeout" {gsub(/^ +/, "", $1); print $1}'
      python "$here/tests/mutation/changed.py" "$base" "$work" "${modules[@]}"
    )
    echo "re-running ${#names[@]} survivors and changed functions of $base" >&2
    mutmut_run "${names[@]}"
    exec python "$here/tests/mutation/score.py" "$work" "$base"
    ;;
  score)
    exec python "$here/tests/mutation/score.py" "$work" ${2:+"$2"}
    ;;
  show)
    cd "$work" && exec mutmut show "$2"
    ;;
  *)
    echo "usage: $0 [run | recheck DIR | score [BASE-DIR] | show NAME]" >&2
    exit 2
    ;;
esac
