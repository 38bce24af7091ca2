#!/usr/bin/env bash
# The GitHub Action's check step: the pull request's base SHA against its head SHA, with the
# change source from the event payload (head repository and branch, author) and the
# `approvers` input. Writes annotations (stdout, as workflow commands), the Markdown report to
# $GITHUB_STEP_SUMMARY and SARIF to `sarif-file`; fails exactly when the report fails at
# `fail-on` (or the check could not run).
set -uo pipefail

bin="${DATASURFACE_BIN:-datasurface}"
sarif="${INPUT_SARIF_FILE:-datasurface.sarif}"
summary="$(mktemp)"
args=(check --github-event "${GITHUB_EVENT_PATH:?the action runs on pull_request events}"
      --repo "${GITHUB_WORKSPACE:-.}" --fail-on "${INPUT_FAIL_ON:-error}" --format github
      --report-file "markdown=$summary" --report-file "sarif=$sarif")
if [ -n "${INPUT_PATH:-}" ]; then
    args+=(--root "$INPUT_PATH")
fi
IFS=',' read -r -a approvers <<< "${INPUT_APPROVERS:-}"
for approver in "${approvers[@]}"; do
    approver="${approver//[[:space:]]/}"
    if [ -n "$approver" ]; then
        args+=(--approver "$approver")
    fi
done

"$bin" "${args[@]}"
code=$?
if [ -s "$summary" ] && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$summary" >> "$GITHUB_STEP_SUMMARY"
fi
rm -f "$summary"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "sarif-file=$sarif" >> "$GITHUB_OUTPUT"
fi
exit "$code"
