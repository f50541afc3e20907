//! The analysis of a whole brand: `analyze` over a generated brand's workspace.

use rapport_engine::SentimentModel;

/// Every customer text of the synthetic brand is read by the service model with the
/// tone it was planted with, so recovery measured on tones targets exactly what the
/// ground truth counts.
#[test]
fn the_service_model_reads_every_planted_tone() {
    let mut wrong = Vec::new();
    for (text, tone) in rapport_synth::text::planted() {
        let compound = SentimentModel::Service.polarity_scores(text).compound;
        let read = rapport_measures::Tone::of_compound(compound);
        if read != tone {
            wrong.push(format!("{text:?}: planted {tone:?}, read {read:?} ({compound:.3})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

use rapport_engine::analyze::load_timelines;
use rapport_engine::demo::{BrandDemoRequest, run_brand_demo};
use rapport_measures::{Engagement, Timeline};
use rapport_synth::story::{START, story};

const HEADLINES: [&str; 14] = [
    "nps",
    "csat",
    "ces",
    "first_response_hours_median",
    "resolution_rate",
    "recovery_rate",
    "deflection_rate",
    "engagement_basket_effect",
    "engagement_frequency_effect",
    "bad_experience_churn_effect",
    "recovered_spend_effect",
    "referred_customer_value",
    "uplift_spring_winback",
    "uplift_autumn_voucher",
];

fn canonical(mut timelines: Vec<Timeline>) -> Vec<Timeline> {
    for timeline in &mut timelines {
        timeline.conversations.sort_by(|a, b| (a.start, &a.channel).cmp(&(b.start, &b.channel)));
        timeline.engagement.sort_by(|a, b| (a.time, format!("{:?}", a.kind)).cmp(&(b.time, format!("{:?}", b.kind))));
    }
    timelines
}

/// The whole pipeline — generated files, ingest, timelines — reproduces the planted
/// stories exactly, so the analysis estimates what the ground truth counts.
#[test]
fn analysis_reads_back_exactly_the_planted_timelines() {
    let directory = tempfile::tempdir().expect("temp");
    let customers = 1_200;
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers, seed: 11, truth_customers: 20_000 };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    for (kind, ingest) in &report.ingests {
        assert_eq!(ingest.rejected, 0, "{kind}: {:?}", ingest.first_rejects);
    }
    let workspace = rapport_store::workspace::Workspace::open(&request.directory).expect("open");
    let loaded = load_timelines(&workspace, Some("2025-12-31"), &|_| {}).expect("timelines");
    let zone = "Europe/London".parse().expect("zone");
    let mut expected: Vec<Timeline> = (0..customers).map(|index| story(11, index, customers).timeline(zone)).collect();
    // Referrals are the referrer's events, written with the referred customer's story.
    for index in 0..customers {
        let drawn = story(11, index, customers);
        if let Some(referrer) = drawn.referred_by {
            let time = (drawn.profile.acquired - 2 * 86_400).max(START);
            let timeline = &mut expected[referrer as usize];
            timeline.referrals_made += 1;
            timeline.engagement.push(Engagement { kind: rapport_core::event::EngagementType::Referral, time });
            timeline.sort();
        }
    }
    let (actual, expected) = (canonical(loaded.timelines), canonical(expected));
    assert_eq!(actual.len(), expected.len());
    for (actual, expected) in actual.iter().zip(&expected) {
        assert_eq!(actual, expected, "customer {}", expected.customer);
    }

    // Every headline is estimated, with an interval and a sample, and the truth names it.
    let summary = &report.analysis.summary;
    for name in HEADLINES {
        let headline = &summary["headline"][name];
        assert!(headline["estimate"].is_f64(), "{name}: {summary:#}");
        assert!(
            headline["lower"].as_f64() <= headline["estimate"].as_f64() && headline["estimate"].as_f64() <= headline["upper"].as_f64(),
            "{name}: {headline}"
        );
        assert!(headline["n"].as_u64().is_some_and(|n| n > 0), "{name}");
        assert!(report.generated.ground_truth.truth.contains_key(name), "truth lacks {name}");
    }
    let run = request.directory.join("results").join(report.analysis.run.id.as_str());
    for file in [
        "summary.json",
        "customers.parquet",
        "voice_of_customer.parquet",
        "service.parquet",
        "programs.parquet",
        "regions.parquet",
        "sentiment_by_channel_week.parquet",
    ] {
        assert!(run.join(file).is_file(), "{file} missing from the run");
    }
}
