//! The words of the synthetic brand: customers' messages by complaint theme and tone,
//! agents' replies, survey comments and reviews. Every customer text's tone is planted;
//! a test in the engine checks that the sentiment model reads each one as planted, so
//! measures judged on tones (recovery) estimate exactly what the ground truth counts.

use rapport_measures::Tone;

/// What a conversation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Theme {
    /// A late or lost parcel.
    Delivery,
    /// A wrong or double charge.
    Billing,
    /// A faulty or poor product.
    Quality,
    /// A return or refund.
    Returns,
    /// Signing in, the app, the account.
    Account,
    /// Thanks and compliments.
    Praise,
}

impl Theme {
    /// Every theme.
    pub const ALL: [Theme; 6] = [Theme::Delivery, Theme::Billing, Theme::Quality, Theme::Returns, Theme::Account, Theme::Praise];

    /// The theme's name.
    pub fn name(self) -> &'static str {
        match self {
            Theme::Delivery => "delivery",
            Theme::Billing => "billing",
            Theme::Quality => "quality",
            Theme::Returns => "returns",
            Theme::Account => "account",
            Theme::Praise => "praise",
        }
    }
}

/// Opening messages of `theme` in `tone` (a theme has no texts for a tone it never takes).
pub fn openings(theme: Theme, tone: Tone) -> &'static [&'static str] {
    match (theme, tone) {
        (Theme::Delivery, Tone::Negative) => &[
            "My parcel is a week late and nobody answers my emails. This is terrible.",
            "The courier says delivered but I never got anything. Really annoyed.",
            "Third time my delivery has been missed, absolutely useless service.",
        ],
        (Theme::Delivery, _) => &["Hi, could you tell me when my order will arrive?", "Can I change the delivery address on my order?"],
        (Theme::Billing, Tone::Negative) => &[
            "I was charged twice for the same order and I want my money back.",
            "You billed me for something I cancelled. Not happy at all.",
            "Why is there an extra fee on my bill? This is ridiculous.",
        ],
        (Theme::Billing, _) => &["Could you send me a copy of my invoice please?", "Which payment methods can I use for my order?"],
        (Theme::Quality, Tone::Negative) => &[
            "The jacket fell apart after two washes, very disappointed.",
            "The blender I bought is broken and makes a horrible noise.",
            "Poor quality, the zip broke the first day. Awful.",
        ],
        (Theme::Quality, _) => &["Is the wool jumper machine washable?", "What size should I order for the hiking boots?"],
        (Theme::Returns, Tone::Negative) => &[
            "I returned the shoes a month ago and still no refund. This is unacceptable.",
            "The return label doesn't work and your website is useless.",
            "Still waiting for my refund, worst experience ever.",
        ],
        (Theme::Returns, _) => &["How do I return an item I bought in store?", "Can I exchange my order for a different colour?"],
        (Theme::Account, Tone::Negative) => &[
            "I can't log in to my account and the reset email never comes. So frustrating.",
            "The app keeps crashing when I try to pay, really annoying.",
            "My account was locked for no reason, terrible.",
        ],
        (Theme::Account, _) => &["How do I update my email address on my account?", "Where can I find my order history in the app?"],
        (Theme::Praise, _) => &[
            "Just wanted to say thank you, the team in store were brilliant!",
            "Love the new collection, great quality and fast delivery.",
            "Thanks for the quick help yesterday, really appreciate it.",
        ],
    }
}

/// Closing customer messages in `tone`.
pub fn closings(tone: Tone) -> &'static [&'static str] {
    match tone {
        Tone::Positive => &[
            "Thank you so much, that's sorted now!",
            "Great, thanks for your help.",
            "Perfect, really appreciate the quick fix.",
            "Brilliant, thanks a lot.",
        ],
        Tone::Neutral => &["Ok, noted.", "I will check tomorrow.", "I will look at the email tomorrow."],
        Tone::Negative => &[
            "Still not fixed. This is useless.",
            "Nobody has helped me, I am done with this company.",
            "Terrible service, I will not order again.",
            "Still waiting and still no answer. Disappointed.",
        ],
    }
}

/// Agents' replies.
pub const REPLIES: [&str; 5] = [
    "Sorry to hear that, I have passed this to the team and will update you today.",
    "Thanks for getting in touch. I have looked into your order and sent the details by email.",
    "Apologies for the trouble. I have arranged a replacement for you.",
    "Thank you for your patience, I have issued the refund to your card.",
    "Hi, I can help with that. Please check the link I have sent you.",
];

/// The brand's agents.
pub const AGENTS: [&str; 12] = ["Aisha", "Ben", "Chloe", "Dan", "Ella", "Femi", "Grace", "Hugo", "Isla", "Jack", "Kofi", "Lena"];

/// Survey comments for detractors, passives and promoters (some over several lines).
pub fn comments(band: usize) -> &'static [&'static str] {
    match band {
        0 => &[
            "Delivery took forever and support never replied.",
            "Too expensive for the quality.\nWould not recommend.",
            "Had to chase my refund twice.",
        ],
        1 => &["Decent products, delivery could be faster.", "Fine overall.", "Good range but the app is slow."],
        _ => &["Great service, always helpful staff!", "Love the quality.\nWill definitely buy again.", "Fast delivery and easy returns."],
    }
}

/// Review texts by star rating (index rating − 1).
pub fn reviews(rating: usize) -> &'static [&'static str] {
    match rating {
        1 => &["Broke after a week, very poor.", "Awful, not as described."],
        2 => &["Disappointing quality for the price."],
        3 => &["Okay product, nothing special."],
        4 => &["Good quality, fits well."],
        _ => &["Excellent, exactly what I wanted!", "Superb quality, highly recommend."],
    }
}

/// Every customer text with its planted tone (for the agreement test).
pub fn planted() -> Vec<(&'static str, Tone)> {
    let mut texts = Vec::new();
    for theme in Theme::ALL {
        for tone in [Tone::Negative, Tone::Neutral, Tone::Positive] {
            let possible = match theme {
                Theme::Praise => tone == Tone::Positive,
                _ => tone != Tone::Positive,
            };
            if possible {
                texts.extend(openings(theme, tone).iter().map(|text| (*text, tone)));
            }
        }
    }
    for tone in [Tone::Negative, Tone::Neutral, Tone::Positive] {
        texts.extend(closings(tone).iter().map(|text| (*text, tone)));
    }
    texts
}
