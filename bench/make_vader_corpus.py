"""The VADER benchmark corpus: the paper's tweets and Amazon texts, repeated to N lines.

    python bench/make_vader_corpus.py N OUT.txt
"""
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parents[1]
texts = []
for name in ["tweets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt"]:
    for line in (root / "data/vader" / name).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            texts.append(parts[2].replace("\r", " ").replace("\n", " "))
n = int(sys.argv[1])
with open(sys.argv[2], "w", encoding="utf-8") as handle:
    for i in range(n):
        handle.write(texts[i % len(texts)] + "\n")
