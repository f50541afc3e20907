"""Python vaderSentiment 3.3.2 texts per second on one core (median of runs).

    python bench/vader_python.py TEXTS.txt [RUNS]
"""
import statistics
import sys
import time

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

texts = open(sys.argv[1], encoding="utf-8").read().splitlines()
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
analyzer = SentimentIntensityAnalyzer()
times = []
for _ in range(runs):
    start = time.perf_counter()
    for text in texts:
        analyzer.polarity_scores(text)
    times.append(time.perf_counter() - start)
median = statistics.median(times)
print(f"vaderSentiment 3.3.2: {len(texts) / median:.0f} texts/s ({median:.3f} s, {len(texts)} texts, {runs} runs)")
