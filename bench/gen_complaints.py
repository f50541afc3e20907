#!/usr/bin/env python3
"""Generate a customer-complaint corpus with known themes, for `rapport topics`.

Each text is built from one theme's fragments (one to three of them), with generic
complaint filler, a fragment from another theme in 10% of texts (noise), and brand
handles, casing and emoji as real posts have them. 15% of texts are praise or neutral
questions (theme "none"), which the topic step should leave out as not negative.
Times run over 2025 with theme-specific trends (app problems spike after a June update,
delivery complaints peak in December). Standard library only; seeded, so the output is
the same on every machine.

    python3 bench/gen_complaints.py --rows 3000 --seed 7 > data/topics/complaints_generated.csv
"""

import argparse
import csv
import random
import sys
from datetime import datetime, timedelta

THEMES = {
    "delivery": [
        "my order still hasn't arrived", "the package is two weeks late", "tracking hasn't updated in 6 days",
        "delivery was supposed to be yesterday", "parcel stuck in transit", "courier never showed up",
        "marked as delivered but nothing at my door", "estimated delivery date keeps moving",
        "waited home all day for the delivery", "the driver left it at the wrong address",
        "shipping is taking forever", "my package is lost somewhere", "ordered three weeks ago and still no package",
    ],
    "refund": [
        "still waiting for my refund", "the refund never came through", "returned the item a month ago and no refund",
        "you promised a refund in 5 days", "refund request was ignored", "where is my money back",
        "my return was received but not refunded", "they keep saying the refund is processing",
        "I was told the refund was issued but my bank shows nothing", "refund was denied for no reason",
        "it has been 30 days and no refund", "cancelled my order and never got my money back",
    ],
    "staff": [
        "the agent was incredibly rude", "the manager yelled at me", "staff were unhelpful and dismissive",
        "the rep hung up on me", "nobody at the store would help", "the employee rolled her eyes at me",
        "your staff were rude to my elderly mother", "the cashier was condescending", "the support agent was sarcastic and rude",
        "nobody apologized", "the person on the phone was so rude", "the technician was rude and left a mess",
    ],
    "app": [
        "the app keeps crashing", "can't log in to the app", "the app crashes every time I open it",
        "login fails with an error", "the new update broke the app", "app freezes at checkout",
        "password reset link doesn't work", "the website won't load", "error message when I try to pay in the app",
        "the app logs me out constantly", "two factor code never arrives so I can't log in", "the app is so slow since the update",
    ],
    "billing": [
        "I was charged twice", "overcharged on my bill", "there is a fee I never agreed to",
        "you billed me after I cancelled", "my bill doubled this month", "hidden charges on my statement",
        "charged for a subscription I cancelled", "the price at checkout was higher than advertised",
        "double charged for one order", "a late fee even though I paid on time", "unexpected charge on my card",
    ],
    "damaged": [
        "the item arrived broken", "the screen was cracked out of the box", "the box was crushed and the product damaged",
        "it stopped working after two days", "the product is defective", "it arrived with a big dent",
        "the replacement is also broken", "parts were missing from the box", "the glass was shattered when it arrived",
        "the zipper broke the first time I used it", "it leaks everywhere", "arrived scratched and dirty",
    ],
    "wait": [
        "on hold for over an hour", "waited 45 minutes to speak to someone", "can't reach anyone on the phone",
        "your phone line keeps disconnecting me", "the chat queue is two hours long", "nobody answers the support line",
        "been on hold for 90 minutes", "I've called five times and never got through", "the callback never happened",
        "your hold music is all I hear", "emailed support three times and no reply", "waiting on hold again",
    ],
}

FILLER = [
    "this is unacceptable", "so frustrated", "really disappointed", "this is ridiculous", "fix this",
    "never again", "terrible service", "not happy", "worst experience", "this is the third time",
    "what a joke", "I'm done with you", "absolutely awful",
]

NONE = [
    "thanks for the quick help today", "love the new collection", "great service at the downtown store",
    "what time do you open on Sunday?", "do you ship to Canada?", "the delivery came early, thank you!",
    "can I change my delivery address?", "the support agent was so kind and helpful", "really happy with my order",
    "how do I update my payment method?", "the new app update is great",
]

HANDLES = ["@shopwell", "@ShopWell", "@shopwell_help", ""]
EMOJI = ["", "", "", " 😡", " 😤", " 🙄", " 👎"]

# Theme weight by month (1..12): the trends a topic report should show.
def weight(theme, month):
    if theme == "app":
        return 3.0 if month in (6, 7) else 1.0
    if theme == "delivery":
        return 3.0 if month == 12 else 1.0
    return 1.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["id", "time", "theme", "text"])
    start = datetime(2025, 1, 1)
    names = list(THEMES)
    for row in range(args.rows):
        day = start + timedelta(days=rng.randrange(365), seconds=rng.randrange(86400))
        if rng.random() < 0.15:
            theme, text = "none", rng.choice(NONE)
        else:
            weights = [weight(name, day.month) for name in names]
            theme = rng.choices(names, weights)[0]
            parts = rng.sample(THEMES[theme], rng.randint(1, 3))
            if rng.random() < 0.10:
                other = rng.choice([name for name in names if name != theme])
                parts.insert(rng.randrange(len(parts) + 1), rng.choice(THEMES[other]))
            if rng.random() < 0.5:
                parts.append(rng.choice(FILLER))
            text = ". ".join(parts)
        handle = rng.choice(HANDLES)
        text = (handle + " " + text).strip()
        if rng.random() < 0.2:
            text = text[0].upper() + text[1:]
        text += rng.choice(EMOJI)
        writer.writerow([row + 1, day.strftime("%Y-%m-%dT%H:%M:%S"), theme, text])


if __name__ == "__main__":
    main()
