#!/usr/bin/env python3
"""Rankings of ranked candidates, scored offline from a `quill eval --dump` file.

    quill eval --corpus unseen --files 200 --kinds line --tasks 60 \\
        --compare candidates=8,temperature=0.7,rank=confidence --dump out.jsonl
    scripts/rank-candidates.py out.jsonl        # all candidates
    scripts/rank-candidates.py out.jsonl 4      # the greedy one and the next 3 only

Each dumped task has every candidate (`ranked`: its index, 0 for the greedy answer, the
settled text, the syntax check's rejections, the mean token log-probability). This
prints, per ranking, how many tasks its top candidate gets exactly right (first line for
line tasks, as `quill eval` scores them), next to the greedy answer and to "any": the
tasks where some candidate is right, the most any ranking could reach.
"""

import collections
import json
import math
import sys


def norm(s):
    return "\n".join(line.rstrip() for line in s.split("\n")).strip("\n")


def first(s):
    return s.split("\n")[0]


def similarity(a, b):
    """1 - Levenshtein distance / the longer length (quill's edit similarity)."""
    a, b = norm(a), norm(b)
    n = max(len(a), len(b))
    if n == 0:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        cur = [i + 1] + [0] * len(b)
        for j, cb in enumerate(b):
            cur[j + 1] = min(prev[j] + (ca != cb), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return 1 - prev[len(b)] / n


def consensus(clean, valid, key):
    """The candidate with the largest summed similarity to the others, then confidence."""
    return max(
        clean,
        key=lambda s: (
            round(sum(similarity(key(s["text"]), key(o["text"])) for o in valid if o is not s), 9),
            s["logprob"],
        ),
    )


# Rankings from `fit` (rank=likelihood), given the fit and the candidate.
READINGS = (
    ("likelihood: text and the code after", lambda f, s: sum(f["text"]) + sum(f["tail"])),
    ("likelihood: the code after alone", lambda f, s: sum(f["tail"])),
    ("likelihood: text mean + the code after",
     lambda f, s: sum(f["text"]) / max(1, len(f["text"])) + sum(f["tail"])),
    # The generation's own confidence saw the whole suffix; reading sees the candidate's
    # effect on the next lines.
    ("confidence (summed) + the code after: quill's rank=likelihood",
     lambda f, s: s["logprob"] * len(f["text"]) + sum(f["tail"])),
    ("confidence (mean) + the code after", lambda f, s: s["logprob"] + sum(f["tail"])),
)


def main():
    path = sys.argv[1]
    most = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
    rows = []
    for line in open(path):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line still being written
    rows = [r for r in rows if r.get("ranked")]
    if not rows:
        sys.exit(f"{path}: no task with ranked candidates (run with candidates above 1)")
    wins = collections.defaultdict(list)
    for r in rows:
        expected, kind = r["expected"], r["kind"]
        cands = sorted(r["ranked"], key=lambda s: s["index"])[:most]

        def right(text):
            return norm(text if kind == "block" else first(text)) == norm(expected)

        valid = [s for s in cands if s["text"].strip()]
        clean = [s for s in valid if s["rejected"] == 0] or valid
        wins["greedy"].append(right(cands[0]["text"]))
        wins["any (the most a ranking can reach)"].append(any(right(s["text"]) for s in cands))
        if not clean:
            for k in ("confidence", "consensus, whole text", "consensus, first line",
                      "plurality of first lines", "probability-weighted vote",
                      *(name for name, _ in READINGS)):
                wins[k].append(False)
            continue
        wins["confidence"].append(right(max(clean, key=lambda s: s["logprob"])["text"]))
        wins["consensus, whole text"].append(right(consensus(clean, valid, lambda t: t)["text"]))
        wins["consensus, first line"].append(right(consensus(clean, valid, first)["text"]))
        votes = collections.Counter(norm(first(s["text"])) for s in valid)
        pick = max(clean, key=lambda s: (votes[norm(first(s["text"]))], s["index"] == 0, s["logprob"]))
        wins["plurality of first lines"].append(right(pick["text"]))
        weight = collections.defaultdict(float)
        for s in valid:
            weight[norm(first(s["text"]))] += math.exp(s["logprob"])
        pick = max(clean, key=lambda s: (weight[norm(first(s["text"]))], s["index"] == 0))
        wins["probability-weighted vote"].append(right(pick["text"]))
        # With rank=likelihood: how the model read the file with each candidate in the
        # hole (`fit`: log-probabilities of the text's tokens, then of the code after).
        # Candidates that were not read (one answer only) go by confidence.
        read = [s for s in clean if s.get("fit")]
        for name, score in READINGS:
            pick = max(read, key=lambda s: (score(s["fit"], s), s["index"] == 0)) if read \
                else max(clean, key=lambda s: s["logprob"])
            wins[name].append(right(pick["text"]))
    n = len(rows)
    per_task = min(len(r["ranked"]) for r in rows)
    print(f"{n} tasks, {min(per_task, most)} candidates each ({path})")
    print("| ranking | exact | tasks | vs greedy: won / lost |")
    print("|---|---|---|---|")
    greedy = wins["greedy"]
    for name, got in wins.items():
        won = sum(a and not b for a, b in zip(got, greedy))
        lost = sum(b and not a for a, b in zip(got, greedy))
        print(f"| {name} | {sum(got) / n * 100:.1f}% | {sum(got)} | {won} / {lost} |")


if __name__ == "__main__":
    main()
