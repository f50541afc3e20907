//! The headline measures and their breakdowns, as one mergeable accumulator over
//! customer timelines.
//!
//! Every definition is written once, here; `docs/measures.md` states them for users.
//! Only events at or before the observation end (`as_of`) count. Windows that look
//! forward from an event (180 days after a bad experience, 30 days after a program, a
//! year after a referred customer's first purchase, 7 days after a self-service
//! session) count only events whose window closed by `as_of`, so a recent event is
//! never judged on a partial window.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use rapport_core::survey::SurveyType;
use rapport_core::time::Zone;
use rapport_stats::intervals::{Interval, Moments, NpsCounts, newcombe_difference, quantile_interval, welch_difference, wilson};
use rapport_stats::regression::ols_hc1;

use crate::table::{Table, Values};
use crate::timeline::{Conversation, Timeline, is_social};

const DAY: i64 = 86_400;
const YEAR_DAYS: f64 = 365.25;

/// What the measures need besides the timelines.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Observation end, UTC seconds (inclusive).
    pub as_of: i64,
    /// The zone of months and days.
    pub zone: Zone,
    /// Interval confidence (0.95).
    pub confidence: f64,
    /// A self-service session followed by no contact within this many days is deflected.
    pub deflection_days: i64,
    /// Window after a bad experience in which leaving and spend are measured.
    pub outcome_days: i64,
    /// Window after a program contact in which a purchase counts as a response.
    pub uplift_days: i64,
    /// Window after a program contact in which a purchase counts as retention.
    pub retention_days: i64,
    /// Window after a referred customer's first purchase in which value is measured.
    pub referred_value_days: i64,
    /// Customers with a shorter tenure are left out of the frequency effect.
    pub frequency_minimum_days: i64,
    /// CSAT answers at or above this are satisfied (top-2-box on 1–5: 4).
    pub csat_satisfied_from: f64,
    /// Window before an NPS answer in which experiences count as its drivers.
    pub driver_days: i64,
    /// A first reply later than this many hours (or none) is a long wait.
    pub long_wait_hours: f64,
    /// The service team's opening hours, for response times in business hours.
    pub schedule: Option<rapport_core::schedule::Schedule>,
    /// The brand's mean cost of a contact (from its contact costs), for the saving of
    /// deflected self-service sessions.
    pub cost_per_contact: Option<f64>,
    /// Labels of the complaint topics that messages' `topic` indexes (at most 32), tested
    /// as drivers of detractor answers.
    pub complaint_topics: Vec<String>,
}

impl Settings {
    /// The documented defaults at observation end `as_of`.
    pub fn new(as_of: i64, zone: Zone) -> Settings {
        Settings {
            as_of,
            zone,
            confidence: 0.95,
            deflection_days: 7,
            outcome_days: 180,
            uplift_days: 30,
            retention_days: 90,
            referred_value_days: 365,
            frequency_minimum_days: 180,
            csat_satisfied_from: 4.0,
            driver_days: 90,
            long_wait_hours: 24.0,
            cost_per_contact: None,
            schedule: None,
            complaint_topics: Vec::new(),
        }
    }

    fn month(&self, utc: i64) -> String {
        let local = self.zone.local_seconds(rapport_core::time::ParsedTime::Instant(utc));
        let (year, month) = rapport_core::time::year_month_from_days(local.div_euclid(DAY));
        format!("{year:04}-{month:02}")
    }
}

/// A headline: estimate, 95% interval, sample size and unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// Point estimate.
    pub estimate: f64,
    /// Lower bound of the interval (null when it cannot be computed).
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
    /// The sample the estimate rests on (answers, conversations, customers…).
    pub n: u64,
    /// What the number is in.
    pub unit: String,
    /// What `n` counts.
    pub of: String,
}

impl Headline {
    /// A headline from an interval; bounds that cannot be computed (NaN) become `None`.
    pub fn new(interval: Interval, unit: &str, of: &str) -> Headline {
        let finite = |value: f64| value.is_finite().then_some(value);
        Headline {
            estimate: interval.estimate,
            lower: finite(interval.lower),
            upper: finite(interval.upper),
            n: interval.n,
            unit: unit.into(),
            of: of.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SurveyStat {
    nps: NpsCounts,
    satisfied: u64,
    answers: u64,
    moments: Moments,
}

impl SurveyStat {
    fn add(&mut self, survey: SurveyType, score: f64, settings: &Settings) {
        self.answers += 1;
        self.moments.add(score);
        match survey {
            SurveyType::Nps => self.nps.add(score),
            SurveyType::Csat => self.satisfied += u64::from(score >= settings.csat_satisfied_from),
            SurveyType::Ces => {}
        }
    }

    fn merge(&mut self, other: &SurveyStat) {
        self.nps = NpsCounts {
            promoters: self.nps.promoters + other.nps.promoters,
            passives: self.nps.passives + other.nps.passives,
            detractors: self.nps.detractors + other.nps.detractors,
        };
        self.satisfied += other.satisfied;
        self.answers += other.answers;
        self.moments.merge(&other.moments);
    }

    fn interval(&self, survey: SurveyType, confidence: f64) -> Interval {
        match survey {
            // The NPS as everyone computes it (% promoters − % detractors), with the
            // adjusted-Wald bounds, which contain it and behave at small n.
            SurveyType::Nps => Interval { estimate: self.nps.score(), ..self.nps.adjusted_wald(confidence) }.scaled(100.0),
            SurveyType::Csat => wilson(self.satisfied, self.answers, confidence).scaled(100.0),
            SurveyType::Ces => self.moments.mean_t(confidence),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ServiceStat {
    conversations: u64,
    /// Conversations with a row saying whether they were resolved.
    resolution_stated: u64,
    response_hours: Vec<f64>,
    /// The same in business hours, when the settings have a schedule.
    business_hours: Vec<f64>,
    /// Start to last row of resolved conversations.
    resolution_hours: Vec<f64>,
    resolved: u64,
    opened_negative: u64,
    /// Of those, conversations in which a recovery could show ([`Conversation::recoverable`]).
    recoverable: u64,
    recovered: u64,
    no_reply: u64,
}

impl ServiceStat {
    fn add(&mut self, conversation: &Conversation, settings: &Settings) {
        self.conversations += 1;
        self.resolution_stated += u64::from(conversation.resolution_stated);
        match conversation.first_response_seconds {
            Some(seconds) => {
                self.response_hours.push(seconds as f64 / 3600.0);
                if let Some(schedule) = &settings.schedule {
                    let open = schedule.business_seconds(settings.zone, conversation.start, conversation.start + seconds);
                    self.business_hours.push(open as f64 / 3600.0);
                }
            }
            None => self.no_reply += 1,
        }
        if conversation.resolved {
            self.resolution_hours.push(conversation.duration_seconds as f64 / 3600.0);
        }
        self.resolved += u64::from(conversation.resolved);
        self.opened_negative += u64::from(conversation.opened_negative());
        self.recoverable += u64::from(conversation.recoverable());
        self.recovered += u64::from(conversation.recovered());
    }

    fn merge(&mut self, other: ServiceStat) {
        self.conversations += other.conversations;
        self.resolution_stated += other.resolution_stated;
        self.response_hours.extend(other.response_hours);
        self.business_hours.extend(other.business_hours);
        self.resolution_hours.extend(other.resolution_hours);
        self.resolved += other.resolved;
        self.opened_negative += other.opened_negative;
        self.recoverable += other.recoverable;
        self.recovered += other.recovered;
        self.no_reply += other.no_reply;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Proportion {
    successes: u64,
    n: u64,
}

impl Proportion {
    fn add(&mut self, success: bool) {
        self.successes += u64::from(success);
        self.n += 1;
    }
    fn merge(&mut self, other: Proportion) {
        self.successes += other.successes;
        self.n += other.n;
    }
}

/// One arm (treated or held out) of a program: each customer's first contact with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Arm {
    /// Bought within the uplift window.
    bought: Proportion,
    /// Net spend within the uplift window.
    spend: Moments,
    /// Bought within the retention window.
    retained: Proportion,
    /// The program's cost of these customers (message cost and rewards naming it).
    cost: f64,
}

impl Arm {
    fn merge(&mut self, other: Arm) {
        self.bought.merge(other.bought);
        self.spend.merge(&other.spend);
        self.retained.merge(other.retained);
        self.cost += other.cost;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct ProgramArms {
    treated: Arm,
    control: Arm,
}

impl ProgramArms {
    /// Uplift in the purchase rate, percentage points (Newcombe).
    fn purchase_uplift(&self, confidence: f64) -> Option<Interval> {
        let (t, c) = (self.treated.bought, self.control.bought);
        (t.n > 0 && c.n > 0).then(|| newcombe_difference(t.successes, t.n, c.successes, c.n, confidence).scaled(100.0))
    }
    /// Uplift in net spend per contacted customer within the window (Welch).
    fn spend_uplift(&self, confidence: f64) -> Option<Interval> {
        (self.treated.spend.n > 1 && self.control.spend.n > 1)
            .then(|| welch_difference(&self.treated.spend, &self.control.spend, confidence))
    }
    /// Uplift in retention, percentage points (Newcombe).
    fn retention_uplift(&self, confidence: f64) -> Option<Interval> {
        let (t, c) = (self.treated.retained, self.control.retained);
        (t.n > 0 && c.n > 0).then(|| newcombe_difference(t.successes, t.n, c.successes, c.n, confidence).scaled(100.0))
    }
    /// Incremental return on the program's cost: (incremental spend − cost) / cost, the
    /// incremental spend being the spend uplift times the customers contacted. The cost
    /// is known, so the interval is the spend uplift's, carried through.
    fn incremental_roi(&self, confidence: f64) -> Option<Interval> {
        let uplift = self.spend_uplift(confidence)?;
        let cost = self.treated.cost;
        if cost <= 0.0 {
            return None;
        }
        let contacted = self.treated.spend.n as f64;
        let roi = |spend: f64| (spend * contacted - cost) / cost;
        Some(Interval { estimate: roi(uplift.estimate), lower: roi(uplift.lower), upper: roi(uplift.upper), n: uplift.n })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct RegionStat {
    customers: u64,
    net_spend: f64,
    nps: NpsCounts,
    /// Conversations that opened negative, clustered by customer.
    negative_contacts: rapport_stats::intervals::ClusteredProportion,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct BandStat {
    customers: u64,
    spend: Moments,
    /// Customers who first bought at least a year before the end: bought in the last year.
    retained: Proportion,
}

/// The mergeable accumulator of every headline and breakdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    customers: u64,
    surveys: BTreeMap<SurveyType, SurveyStat>,
    /// (dimension, value, survey) → answers.
    survey_breakdown: BTreeMap<(Cow<'static, str>, String, SurveyType), SurveyStat>,
    service: ServiceStat,
    service_breakdown: BTreeMap<(Cow<'static, str>, String), ServiceStat>,
    /// Self-service sessions, clustered by customer.
    deflection: rapport_stats::intervals::ClusteredProportion,
    /// Rows of (engaged, tenure in years, mean basket).
    basket_rows: Vec<[f64; 3]>,
    /// Rows of (engaged, tenure in years, repeat purchases per year).
    frequency_rows: Vec<[f64; 3]>,
    churn_unresolved: Proportion,
    churn_resolved: Proportion,
    spend_recovered: Moments,
    spend_unrecovered: Moments,
    /// After a bad experience: bought again within the outcome window, by recovery.
    retained_recovered: Proportion,
    retained_unrecovered: Proportion,
    referred_value: Moments,
    /// program → its treated and control arms.
    programs: BTreeMap<String, ProgramArms>,
    regions: BTreeMap<String, RegionStat>,
    /// Distance band → customers, net spend, retention.
    distance_bands: BTreeMap<Cow<'static, str>, BandStat>,
    /// Customers with an NPS answer: ambassadors among them.
    ambassadors: Proportion,
    /// Per NPS answer: the experiences of the window before it, the complaint topics of
    /// its contacts (a bit per topic), and whether it is a detractor.
    driver_rows: Vec<DriverRow>,
}

/// One NPS answer as a driver row: the experiences, the complaint topics (a bit each)
/// and whether it is a detractor's.
type DriverRow = ([bool; DRIVERS.len()], u32, bool);

/// The experiences tested as drivers of detractor answers, in the window before the answer.
pub const DRIVERS: [&str; 4] = ["unresolved_contact", "long_wait_or_no_reply", "negative_contact", "refund"];

fn merge_map<K: Ord, V>(into: &mut BTreeMap<K, V>, from: BTreeMap<K, V>, merge: impl Fn(&mut V, V)) {
    for (key, value) in from {
        match into.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut entry) => merge(entry.get_mut(), value),
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(value);
            }
        }
    }
}

impl Measures {
    /// Fold one customer's timeline in (lists sorted by time, as [`Timeline::sort`]).
    pub fn update(&mut self, timeline: &Timeline, settings: &Settings) {
        let as_of = settings.as_of;
        self.customers += 1;
        let region = timeline.region.clone().unwrap_or_else(|| "(none)".to_string());
        let region_stat = self.regions.entry(region.clone()).or_default();
        region_stat.customers += 1;
        let net_spend = timeline.purchases.iter().filter(|purchase| purchase.time <= as_of).map(|purchase| purchase.amount).sum::<f64>();
        region_stat.net_spend += net_spend;
        // Retained: a customer who first bought at least a year before the end bought in the last year.
        let year = 365 * DAY;
        let first_purchase =
            timeline.purchases.iter().find(|purchase| purchase.amount > 0.0 && purchase.time <= as_of).map(|purchase| purchase.time);
        let retained = first_purchase.filter(|first| *first <= as_of - year).map(|_| {
            timeline.purchases.iter().any(|purchase| purchase.amount > 0.0 && purchase.time <= as_of && purchase.time > as_of - year)
        });
        if let Some(distance) = timeline.store_distance_km {
            let band = self.distance_bands.entry(Cow::Borrowed(crate::geo::band(distance))).or_default();
            band.customers += 1;
            band.spend.add(net_spend);
            if let Some(retained) = retained {
                band.retained.add(retained);
            }
        }

        for answer in timeline.answers.iter().filter(|answer| answer.time <= as_of) {
            self.surveys.entry(answer.survey).or_default().add(answer.survey, answer.score, settings);
            let dimensions: [(&'static str, String); 5] = [
                ("month", settings.month(answer.time)),
                ("touchpoint", answer.touchpoint.clone().unwrap_or_else(|| "(none)".into())),
                ("stage", answer.stage.clone().unwrap_or_else(|| "(none)".into())),
                ("channel", answer.channel.clone().unwrap_or_else(|| "(none)".into())),
                ("region", region.clone()),
            ];
            for (dimension, value) in dimensions {
                self.survey_breakdown.entry((Cow::Borrowed(dimension), value, answer.survey)).or_default().add(
                    answer.survey,
                    answer.score,
                    settings,
                );
            }
            if answer.survey == SurveyType::Nps {
                self.regions.entry(region.clone()).or_default().nps.add(answer.score);
            }
        }

        let nps_answers: Vec<_> =
            timeline.answers.iter().filter(|answer| answer.time <= as_of && answer.survey == SurveyType::Nps).collect();
        if !nps_answers.is_empty() {
            self.ambassadors.add(crate::timeline::Advocacy::of(timeline, as_of).ambassador());
        }
        let window = settings.driver_days * DAY;
        for answer in &nps_answers {
            let recent: Vec<&Conversation> =
                timeline.conversations.iter().filter(|c| c.start <= answer.time && c.start >= answer.time - window).collect();
            let long_wait = (settings.long_wait_hours * 3600.0) as i64;
            let experiences = [
                recent.iter().any(|c| !c.resolved),
                recent.iter().any(|c| c.first_response_seconds.is_none_or(|seconds| seconds > long_wait)),
                recent.iter().any(|c| c.opened_negative()),
                timeline.purchases.iter().any(|p| p.amount < 0.0 && p.time <= answer.time && p.time >= answer.time - window),
            ];
            let topics = recent.iter().filter_map(|c| c.topic).filter(|&topic| topic < 32).fold(0_u32, |mask, topic| mask | 1 << topic);
            self.driver_rows.push((experiences, topics, answer.score <= 6.0));
        }

        let conversations: Vec<&Conversation> = timeline.conversations.iter().filter(|conversation| conversation.start <= as_of).collect();
        let toned = conversations.iter().filter(|conversation| conversation.opening.is_some());
        let negative = toned.clone().filter(|conversation| conversation.opened_negative()).count() as u64;
        let toned = toned.count() as u64;
        if toned > 0 {
            self.regions.entry(region.clone()).or_default().negative_contacts.add(negative, toned);
        }
        for conversation in &conversations {
            self.service.add(conversation, settings);
            self.service_breakdown.entry((Cow::Borrowed("channel"), conversation.channel.clone())).or_default().add(conversation, settings);
            let agent = conversation.agent.clone().unwrap_or_else(|| "(no reply)".into());
            self.service_breakdown.entry((Cow::Borrowed("agent"), agent)).or_default().add(conversation, settings);
        }

        // Deflection: a self-service session (article view) is deflected when no
        // contact on another channel follows within the window.
        let window = settings.deflection_days * DAY;
        let (mut sessions, mut deflected) = (0_u64, 0_u64);
        for session in timeline.engagement.iter().filter(|event| event.kind == rapport_core::event::EngagementType::ArticleView) {
            if session.time + window > as_of {
                continue;
            }
            let contacted = conversations.iter().any(|conversation| {
                conversation.channel != "self-service" && conversation.start > session.time && conversation.start <= session.time + window
            });
            sessions += 1;
            deflected += u64::from(!contacted);
        }
        self.deflection.add(deflected, sessions);

        let purchases: Vec<_> = timeline.purchases.iter().filter(|purchase| purchase.time <= as_of).collect();
        let positive: Vec<_> = purchases.iter().filter(|purchase| purchase.amount > 0.0).collect();
        let engaged = timeline.engagement.iter().any(|event| event.time <= as_of && is_social(event.kind));
        if let Some(first) = positive.first() {
            let tenure_days = (as_of - first.time) as f64 / DAY as f64;
            let tenure_years = tenure_days / YEAR_DAYS;
            let basket = positive.iter().map(|purchase| purchase.amount).sum::<f64>() / positive.len() as f64;
            self.basket_rows.push([f64::from(u8::from(engaged)), tenure_years, basket]);
            if as_of - first.time >= settings.frequency_minimum_days * DAY {
                let mut days: Vec<i64> = positive.iter().map(|purchase| i64::from(purchase.day)).collect();
                days.dedup();
                let repeats = (days.len() - 1) as f64;
                self.frequency_rows.push([f64::from(u8::from(engaged)), tenure_years, repeats / tenure_years]);
            }
            // The value of a referred customer: net spend in the year from the first purchase.
            let horizon = settings.referred_value_days * DAY;
            if timeline.referred && first.time + horizon <= as_of {
                let value: f64 =
                    purchases.iter().filter(|purchase| purchase.time < first.time + horizon).map(|purchase| purchase.amount).sum();
                self.referred_value.add(value);
            }
        }

        // The first bad experience whose outcome window has closed.
        let outcome = settings.outcome_days * DAY;
        if let Some(bad) = conversations.iter().find(|conversation| conversation.opened_negative())
            && bad.start + outcome <= as_of
        {
            let after: Vec<_> =
                purchases.iter().filter(|purchase| purchase.time > bad.start && purchase.time <= bad.start + outcome).collect();
            let left = !after.iter().any(|purchase| purchase.amount > 0.0);
            if bad.resolved {
                self.churn_resolved.add(left)
            } else {
                self.churn_unresolved.add(left)
            }
            let spend: f64 = after.iter().map(|purchase| purchase.amount).sum();
            if bad.recovered() {
                self.spend_recovered.add(spend);
                self.retained_recovered.add(!left);
            } else {
                self.spend_unrecovered.add(spend);
                self.retained_unrecovered.add(!left);
            }
        }

        // Each customer's first contact with a program whose windows have closed.
        let mut seen = std::collections::BTreeSet::new();
        let uplift = settings.uplift_days * DAY;
        let retention = settings.retention_days * DAY;
        for contact in &timeline.programs {
            if !seen.insert(contact.program.as_str()) || contact.time + uplift.max(retention) > as_of {
                continue;
            }
            let within =
                |days: i64| purchases.iter().filter(move |purchase| purchase.time > contact.time && purchase.time <= contact.time + days);
            let entry = self.programs.entry(contact.program.clone()).or_default();
            let arm = if contact.control { &mut entry.control } else { &mut entry.treated };
            arm.bought.add(within(uplift).any(|purchase| purchase.amount > 0.0));
            arm.spend.add(within(uplift).map(|purchase| purchase.amount).sum());
            arm.retained.add(within(retention).any(|purchase| purchase.amount > 0.0));
            arm.cost += timeline.programs.iter().filter(|other| other.program == contact.program).map(|other| other.cost).sum::<f64>();
        }
    }

    /// Merge another partition's accumulator.
    pub fn merge(&mut self, other: Measures) {
        self.customers += other.customers;
        merge_map(&mut self.surveys, other.surveys, |a, b| a.merge(&b));
        merge_map(&mut self.survey_breakdown, other.survey_breakdown, |a, b| a.merge(&b));
        self.service.merge(other.service);
        merge_map(&mut self.service_breakdown, other.service_breakdown, |a, b| a.merge(b));
        self.deflection.merge(&other.deflection);
        self.basket_rows.extend(other.basket_rows);
        self.frequency_rows.extend(other.frequency_rows);
        self.churn_unresolved.merge(other.churn_unresolved);
        self.churn_resolved.merge(other.churn_resolved);
        self.spend_recovered.merge(&other.spend_recovered);
        self.spend_unrecovered.merge(&other.spend_unrecovered);
        self.retained_recovered.merge(other.retained_recovered);
        self.retained_unrecovered.merge(other.retained_unrecovered);
        self.referred_value.merge(&other.referred_value);
        merge_map(&mut self.programs, other.programs, |a, b| {
            a.treated.merge(b.treated);
            a.control.merge(b.control);
        });
        self.ambassadors.merge(other.ambassadors);
        merge_map(&mut self.distance_bands, other.distance_bands, |a, b| {
            a.customers += b.customers;
            a.spend.merge(&b.spend);
            a.retained.merge(b.retained);
        });
        self.driver_rows.extend(other.driver_rows);
        merge_map(&mut self.regions, other.regions, |a, b| {
            a.customers += b.customers;
            a.net_spend += b.net_spend;
            a.negative_contacts.merge(&b.negative_contacts);
            a.nps = NpsCounts {
                promoters: a.nps.promoters + b.nps.promoters,
                passives: a.nps.passives + b.nps.passives,
                detractors: a.nps.detractors + b.nps.detractors,
            };
        });
    }

    /// Customers folded in.
    pub fn customers(&self) -> u64 {
        self.customers
    }

    /// The headlines that the data allow, and the skipped ones with the reason.
    /// Conversations that opened negative, and of them those in which a recovery could
    /// show (a second customer message or a stated resolution): where few could, the
    /// recovery rate counts the silent rest as not recovered, which a reader should know.
    pub fn recovery_observed(&self) -> (u64, u64) {
        (self.service.opened_negative, self.service.recoverable)
    }

    pub fn headlines(&self, settings: &Settings, currency: &str) -> (BTreeMap<String, Headline>, BTreeMap<String, String>) {
        let confidence = settings.confidence;
        let mut headlines = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        let mut put = |name: &str, value: Option<Headline>, reason: &str| match value {
            Some(headline) if headline.n > 0 && headline.estimate.is_finite() => {
                headlines.insert(name.to_string(), headline);
            }
            _ => {
                skipped.insert(name.to_string(), reason.to_string());
            }
        };
        let deflection_reason = "needs self-service sessions and contact costs (costs of type contact)";
        let survey = |kind: SurveyType| self.surveys.get(&kind).map(|stat| stat.interval(kind, confidence));
        put("nps", survey(SurveyType::Nps).map(|i| Headline::new(i, "points (−100 to 100)", "answers")), "no NPS answers");
        put("csat", survey(SurveyType::Csat).map(|i| Headline::new(i, "percent satisfied (top 2 of 5)", "answers")), "no CSAT answers");
        put("ces", survey(SurveyType::Ces).map(|i| Headline::new(i, "mean effort (1–7, lower is easier)", "answers")), "no CES answers");

        let mut hours = self.service.response_hours.clone();
        hours.sort_by(f64::total_cmp);
        let no_conversations = "no conversations with an agent reply";
        put(
            "first_response_hours_median",
            (!hours.is_empty()).then(|| Headline::new(quantile_interval(&hours, 0.5, confidence), "hours", "replied conversations")),
            no_conversations,
        );
        put(
            "first_response_hours_p90",
            (!hours.is_empty()).then(|| Headline::new(quantile_interval(&hours, 0.9, confidence), "hours", "replied conversations")),
            no_conversations,
        );
        let mut business = self.service.business_hours.clone();
        business.sort_by(f64::total_cmp);
        put(
            "first_response_business_hours_median",
            (!business.is_empty())
                .then(|| Headline::new(quantile_interval(&business, 0.5, confidence), "business hours", "replied conversations")),
            "needs conversations with an agent reply and opening hours ([service] hours in rapport.toml)",
        );
        let mut resolution = self.service.resolution_hours.clone();
        resolution.sort_by(f64::total_cmp);
        put(
            "resolution_hours_median",
            (!resolution.is_empty()).then(|| {
                Headline::new(
                    quantile_interval(&resolution, 0.5, confidence),
                    "hours from first message to last row",
                    "resolved conversations",
                )
            }),
            "no resolved conversations",
        );
        let service = &self.service;
        put(
            "resolution_rate",
            (service.resolution_stated > 0).then(|| {
                Headline::new(wilson(service.resolved, service.conversations, confidence).scaled(100.0), "percent", "conversations")
            }),
            "no interaction row says whether its conversation was resolved (map a resolved column)",
        );
        // Where no conversation that opened negative has a second customer message or a
        // stated resolution, every one of them closes as it opened: that is no rate, not 0%
        // (a social export whose replies carry the brand's id as customer_id, or one
        // conversation id per tweet, looks like this).
        let recovery_reason = match service.opened_negative {
            0 => "no conversation opened negative (interactions with customer texts are needed)".to_string(),
            n => format!(
                "none of the {n} conversations that opened negative has a second customer message or a stated resolution, so none could show a recovery (check that a conversation's rows share its conversation_id and customer_id, or map a resolved column)"
            ),
        };
        put(
            "recovery_rate",
            (service.recoverable > 0).then(|| {
                Headline::new(
                    wilson(service.recovered, service.opened_negative, confidence).scaled(100.0),
                    "percent",
                    "conversations that opened negative",
                )
            }),
            &recovery_reason,
        );
        put(
            "deflection_rate",
            (self.deflection.events > 0.0)
                .then(|| Headline::new(self.deflection.interval(confidence).scaled(100.0), "percent", "self-service sessions")),
            "no self-service sessions (article-view engagement) with a closed window",
        );

        // Each deflected session is a contact avoided, at the mean contact cost.
        let saving = settings.cost_per_contact.filter(|_| self.deflection.events > 0.0).map(|cost| {
            let rate = self.deflection.interval(confidence);
            let sessions = self.deflection.events;
            let saving = Interval {
                estimate: rate.estimate * sessions * cost,
                lower: rate.lower * sessions * cost,
                upper: rate.upper * sessions * cost,
                n: rate.n,
            };
            Headline::new(saving, &format!("{currency} (contacts avoided × {cost:.2} per contact)"), "self-service sessions")
        });
        put("deflection_saving", saving, deflection_reason);
        put(
            "ambassador_rate",
            (self.ambassadors.n > 0).then(|| {
                Headline::new(
                    wilson(self.ambassadors.successes, self.ambassadors.n, confidence).scaled(100.0),
                    "percent",
                    "customers with an NPS answer",
                )
            }),
            "no NPS answers",
        );

        let effect = |rows: &[[f64; 3]]| {
            let x: Vec<Vec<f64>> = rows.iter().map(|row| vec![1.0, row[0], row[1]]).collect();
            let y: Vec<f64> = rows.iter().map(|row| row[2]).collect();
            ols_hc1(&x, &y).map(|fit| fit.interval(1, confidence))
        };
        let engagement_reason = "needs purchases and social engagement (both engaged and not engaged customers)";
        put(
            "engagement_basket_effect",
            effect(&self.basket_rows).map(|i| Headline::new(i, &format!("{currency} per purchase"), "customers")),
            engagement_reason,
        );
        put(
            "engagement_frequency_effect",
            effect(&self.frequency_rows).map(|i| Headline::new(i, "repeat purchases per year", "customers")),
            engagement_reason,
        );
        // Whether anyone bought: without a purchase in the data, buying again after a bad
        // experience is 0% in every arm, which is no estimate of an effect.
        let bought = !self.basket_rows.is_empty();
        let (unresolved, resolved) = (self.churn_unresolved, self.churn_resolved);
        let churn = (bought && unresolved.n > 0 && resolved.n > 0 && self.service.resolution_stated > 0)
            .then(|| newcombe_difference(unresolved.successes, unresolved.n, resolved.successes, resolved.n, confidence).scaled(100.0));
        put(
            "bad_experience_churn_effect",
            churn.map(|i| Headline::new(i, "percentage points", "customers with a bad experience")),
            "needs both resolved and unresolved conversations that opened negative, with purchases",
        );
        let spend = (self.spend_recovered.n > 1 && self.spend_unrecovered.n > 1)
            .then(|| welch_difference(&self.spend_recovered, &self.spend_unrecovered, confidence));
        put(
            "recovered_spend_effect",
            spend.map(|i| Headline::new(i, &format!("{currency} in {} days", settings.outcome_days), "customers with a bad experience")),
            "needs both recovered and unrecovered customers, with purchases",
        );
        let (recovered, unrecovered) = (self.retained_recovered, self.retained_unrecovered);
        let retention = (bought && recovered.n > 0 && unrecovered.n > 0)
            .then(|| newcombe_difference(recovered.successes, recovered.n, unrecovered.successes, unrecovered.n, confidence).scaled(100.0));
        put(
            "recovered_retention_effect",
            retention.map(|i| {
                Headline::new(
                    i,
                    &format!("percentage points bought again within {} days", settings.outcome_days),
                    "customers with a bad experience",
                )
            }),
            "needs both recovered and unrecovered customers, with purchases",
        );
        put(
            "referred_customer_value",
            (self.referred_value.n > 0).then(|| {
                Headline::new(
                    self.referred_value.mean_t(confidence),
                    &format!("{currency} in the first {} days", settings.referred_value_days),
                    "referred customers",
                )
            }),
            &format!(
                "no referred customer whose first purchase was at least {} days before the observation end (their value is measured over that window after it)",
                settings.referred_value_days
            ),
        );
        for (program, arms) in &self.programs {
            let contacted = "customers sent or held out";
            put(
                &format!("uplift_{program}"),
                arms.purchase_uplift(confidence)
                    .map(|i| Headline::new(i, &format!("percentage points bought within {} days", settings.uplift_days), contacted)),
                "needs a control group",
            );
            put(
                &format!("uplift_{program}_spend"),
                arms.spend_uplift(confidence).map(|i| {
                    Headline::new(i, &format!("{currency} net spend per customer within {} days", settings.uplift_days), contacted)
                }),
                "needs at least two customers in each of the treated and control groups",
            );
            put(
                &format!("uplift_{program}_retention"),
                arms.retention_uplift(confidence)
                    .map(|i| Headline::new(i, &format!("percentage points bought within {} days", settings.retention_days), contacted)),
                "needs a control group",
            );
            put(
                &format!("incremental_roi_{program}"),
                arms.incremental_roi(confidence).map(|i| {
                    Headline::new(
                        i,
                        &format!("(incremental spend − program cost) / program cost, within {} days", settings.uplift_days),
                        contacted,
                    )
                }),
                "needs a control group and the program's costs (the cost column of programs, or reward costs naming the program)",
            );
        }
        (headlines, skipped)
    }

    /// The breakdown tables: voice of the customer by month, touchpoint, stage and
    /// region; service by channel and agent; programs; regions.
    pub fn breakdowns(&self, settings: &Settings) -> Vec<Table> {
        let confidence = settings.confidence;
        let mut voc = Columns::default();
        // The NPS of the previous month that has answers.
        let mut previous_month: Option<NpsCounts> = None;
        for ((dimension, value, survey), stat) in &self.survey_breakdown {
            let interval = stat.interval(*survey, confidence);
            voc.text("dimension", dimension);
            voc.text("value", value);
            voc.text("survey", survey.name());
            voc.interval(interval);
            // Period over period: NPS change against the month before, with its interval.
            let monthly_nps = dimension == "month" && *survey == SurveyType::Nps;
            let change = match previous_month {
                Some(earlier) if monthly_nps => {
                    let change = stat.nps.change_since(&earlier, confidence);
                    Some(Interval { estimate: stat.nps.score() - earlier.score(), ..change }.scaled(100.0))
                }
                _ => None,
            };
            if monthly_nps {
                previous_month = Some(stat.nps);
            }
            voc.number("change", change.map_or(f64::NAN, |i| i.estimate));
            voc.number("change_lower", change.map_or(f64::NAN, |i| i.lower));
            voc.number("change_upper", change.map_or(f64::NAN, |i| i.upper));
        }

        let mut service = Columns::default();
        for ((dimension, value), stat) in &self.service_breakdown {
            service.text("dimension", dimension);
            service.text("value", value);
            service.count("conversations", stat.conversations);
            service.count("no_reply", stat.no_reply);
            let mut hours = stat.response_hours.clone();
            hours.sort_by(f64::total_cmp);
            let median = quantile_interval(&hours, 0.5, confidence);
            service.number("first_response_hours_median", median.estimate);
            service.number("first_response_hours_median_lower", median.lower);
            service.number("first_response_hours_median_upper", median.upper);
            let p90 = quantile_interval(&hours, 0.9, confidence);
            service.number("first_response_hours_p90", p90.estimate);
            service.number("first_response_hours_p90_lower", p90.lower);
            service.number("first_response_hours_p90_upper", p90.upper);
            let mut business = stat.business_hours.clone();
            business.sort_by(f64::total_cmp);
            let business = quantile_interval(&business, 0.5, confidence);
            service.number("first_response_business_hours_median", business.estimate);
            service.number("first_response_business_hours_median_lower", business.lower);
            service.number("first_response_business_hours_median_upper", business.upper);
            let mut resolution = stat.resolution_hours.clone();
            resolution.sort_by(f64::total_cmp);
            let resolution_median = quantile_interval(&resolution, 0.5, confidence);
            service.number("resolution_hours_median", resolution_median.estimate);
            service.number("resolution_hours_median_lower", resolution_median.lower);
            service.number("resolution_hours_median_upper", resolution_median.upper);
            // Where no row says whether its conversation was resolved, none counts as
            // resolved: that is no rate, not 0% (the headline is skipped for the same reason).
            let resolution = match self.service.resolution_stated {
                0 => Interval { estimate: f64::NAN, lower: f64::NAN, upper: f64::NAN, n: stat.conversations },
                _ => wilson(stat.resolved, stat.conversations, confidence).scaled(100.0),
            };
            service.number("resolution_rate", resolution.estimate);
            service.number("resolution_rate_lower", resolution.lower);
            service.number("resolution_rate_upper", resolution.upper);
            // As the headline: where no conversation could show a recovery, no rate.
            let recovery = match self.service.recoverable {
                0 => Interval { estimate: f64::NAN, lower: f64::NAN, upper: f64::NAN, n: stat.opened_negative },
                _ => wilson(stat.recovered, stat.opened_negative, confidence).scaled(100.0),
            };
            service.count("opened_negative", stat.opened_negative);
            service.number("recovery_rate", recovery.estimate);
            service.number("recovery_rate_lower", recovery.lower);
            service.number("recovery_rate_upper", recovery.upper);
        }

        let mut programs = Columns::default();
        for (program, arms) in &self.programs {
            let (treated, control) = (arms.treated.bought, arms.control.bought);
            programs.text("program", program);
            programs.count("treated", treated.n);
            programs.count("control", control.n);
            let treated_rate = wilson(treated.successes, treated.n, confidence).scaled(100.0);
            let control_rate = wilson(control.successes, control.n, confidence).scaled(100.0);
            programs.number("treated_purchase_rate", treated_rate.estimate);
            programs.number("treated_purchase_rate_lower", treated_rate.lower);
            programs.number("treated_purchase_rate_upper", treated_rate.upper);
            programs.number("control_purchase_rate", control_rate.estimate);
            programs.number("control_purchase_rate_lower", control_rate.lower);
            programs.number("control_purchase_rate_upper", control_rate.upper);
            let uplift = newcombe_difference(treated.successes, treated.n, control.successes, control.n, confidence).scaled(100.0);
            let named = |columns: &mut Columns, name: &str, interval: Option<Interval>| {
                let interval = interval.unwrap_or_else(Interval::empty);
                columns.number(name, interval.estimate);
                columns.number(&format!("{name}_lower"), interval.lower);
                columns.number(&format!("{name}_upper"), interval.upper);
            };
            // Named, beside the other uplifts (an `estimate` column here read as the
            // program's whole effect).
            named(&mut programs, "purchase_uplift", Some(uplift));
            named(&mut programs, "spend_uplift", arms.spend_uplift(confidence));
            named(&mut programs, "retention_uplift", arms.retention_uplift(confidence));
            // What was spent on the measured customers (those whose windows have closed):
            // the treated arm's cost is the ROI's; a cost on the control arm (a reward paid
            // to a held-out customer) is shown beside it, since ROR's program cost counts it.
            programs.number("cost", arms.treated.cost);
            programs.number("control_cost", arms.control.cost);
            named(&mut programs, "incremental_roi", arms.incremental_roi(confidence));
        }

        let mut regions = Columns::default();
        for (region, stat) in &self.regions {
            regions.text("region", region);
            regions.count("customers", stat.customers);
            regions.number("net_spend", stat.net_spend);
            let nps = Interval { estimate: stat.nps.score(), ..stat.nps.adjusted_wald(confidence) }.scaled(100.0);
            regions.count("nps_answers", nps.n);
            regions.number("nps", nps.estimate);
            regions.number("nps_lower", nps.lower);
            regions.number("nps_upper", nps.upper);
            // Sentiment: the share of the region's conversations whose first customer
            // message reads negative, clustered by customer.
            let negative = stat.negative_contacts;
            let rate = (negative.events > 0.0).then(|| negative.interval(confidence).scaled(100.0));
            regions.count("conversations_toned", negative.events as u64);
            regions.number("negative_contact_rate", rate.map_or(f64::NAN, |i| i.estimate));
            regions.number("negative_contact_rate_lower", rate.map_or(f64::NAN, |i| i.lower));
            regions.number("negative_contact_rate_upper", rate.map_or(f64::NAN, |i| i.upper));
        }
        let drivers = self.drivers_table(settings);
        let mut bands = Columns::default();
        for label in ["0–5 km", "5–10 km", "10–25 km", "25–50 km", "50+ km"] {
            let Some(stat) = self.distance_bands.get(label) else { continue };
            bands.text("distance_to_store", label);
            bands.count("customers", stat.customers);
            let spend = stat.spend.mean_t(confidence);
            bands.number("mean_net_spend", spend.estimate);
            bands.number("mean_net_spend_lower", spend.lower);
            bands.number("mean_net_spend_upper", spend.upper);
            let retention = wilson(stat.retained.successes, stat.retained.n, confidence).scaled(100.0);
            bands.count("retention_n", retention.n);
            bands.number("retention_rate", retention.estimate);
            bands.number("retention_lower", retention.lower);
            bands.number("retention_upper", retention.upper);
        }
        let mut tables =
            vec![voc.table("voice_of_customer"), service.table("service"), programs.table("programs"), regions.table("regions")];
        if !self.distance_bands.is_empty() {
            tables.push(bands.table("distance_bands"));
        }
        if !self.driver_rows.is_empty() {
            tables.push(drivers);
        }
        tables
    }
}

impl Measures {
    /// Which experiences in the window before an NPS answer raise the odds of a detractor
    /// answer. Each driver's detractor rate with and without it (Wilson), and its odds
    /// ratio holding the others fixed (logistic regression, Wald interval on the log
    /// odds). The four experiences share one model; complaint topics share a second, in
    /// which they take the place of "negative_contact" (every topic is a negative
    /// message, so the two together would be nearly collinear): a topic's odds ratio is
    /// then the effect of a complaint about it, against no negative contact. A topic
    /// whose answers are all detractors or all not has no finite odds ratio (blank).
    fn drivers_table(&self, settings: &Settings) -> Table {
        let confidence = settings.confidence;
        let topics = settings.complaint_topics.len().min(32);
        let y: Vec<bool> = self.driver_rows.iter().map(|(_, _, detractor)| *detractor).collect();
        let flag = |experiences: &[bool; DRIVERS.len()], index: usize| f64::from(u8::from(experiences[index]));
        let experience_odds = odds_ratios(
            &self
                .driver_rows
                .iter()
                .map(|(experiences, _, _)| std::iter::once(1.0).chain((0..DRIVERS.len()).map(|index| flag(experiences, index))).collect())
                .collect::<Vec<Vec<f64>>>(),
            &y,
            1 + DRIVERS.len(),
            confidence,
        );
        // Topics with both detractor and other answers among those that saw them (one
        // with only one kind separates the data and has no finite odds ratio).
        let seen: Vec<usize> = (0..topics)
            .filter(|&topic| {
                let with: Vec<bool> = self.driver_rows.iter().filter(|(_, mask, _)| mask & (1 << topic) != 0).map(|row| row.2).collect();
                with.contains(&true) && with.contains(&false)
            })
            .collect();
        let others: Vec<usize> = (0..DRIVERS.len()).filter(|&index| DRIVERS[index] != "negative_contact").collect();
        let topic_design = |topics: &[usize]| -> Vec<Vec<f64>> {
            self.driver_rows
                .iter()
                .map(|(experiences, mask, _)| {
                    std::iter::once(1.0)
                        .chain(others.iter().map(|&index| flag(experiences, index)))
                        .chain(topics.iter().map(|&topic| f64::from(u8::from(mask & (1 << topic) != 0))))
                        .collect()
                })
                .collect()
        };
        // One model with every topic; should it not converge (quasi-separation among
        // topics), one model per topic.
        let joint =
            if seen.is_empty() { Vec::new() } else { odds_ratios(&topic_design(&seen), &y, 1 + others.len() + seen.len(), confidence) };
        let converged = joint.iter().skip(others.len()).any(Option::is_some);
        let topic_odds: BTreeMap<usize, Interval> = seen
            .iter()
            .enumerate()
            .filter_map(|(position, &topic)| {
                let odds = if converged {
                    joint[others.len() + position]
                } else {
                    odds_ratios(&topic_design(&[topic]), &y, 2 + others.len(), confidence)[others.len()]
                };
                odds.map(|odds| (topic, odds))
            })
            .collect();
        let mut drivers = Columns::default();
        let mut row = |name: &str, kind: &str, has: &dyn Fn(&DriverRow) -> bool, odds: Option<Interval>| {
            let (mut with, mut without) = (Proportion::default(), Proportion::default());
            for driver_row in &self.driver_rows {
                if has(driver_row) { with.add(driver_row.2) } else { without.add(driver_row.2) }
            }
            drivers.text("driver", name);
            drivers.text("kind", kind);
            drivers.count("answers_with", with.n);
            let rate_with = wilson(with.successes, with.n, confidence).scaled(100.0);
            let rate_without = wilson(without.successes, without.n, confidence).scaled(100.0);
            drivers.number("detractor_rate_with", rate_with.estimate);
            drivers.number("detractor_rate_with_lower", rate_with.lower);
            drivers.number("detractor_rate_with_upper", rate_with.upper);
            drivers.number("detractor_rate_without", rate_without.estimate);
            drivers.number("detractor_rate_without_lower", rate_without.lower);
            drivers.number("detractor_rate_without_upper", rate_without.upper);
            drivers.number("odds_ratio", odds.map_or(f64::NAN, |i| i.estimate.exp()));
            drivers.number("odds_ratio_lower", odds.map_or(f64::NAN, |i| i.lower.exp()));
            drivers.number("odds_ratio_upper", odds.map_or(f64::NAN, |i| i.upper.exp()));
        };
        for (index, driver) in DRIVERS.iter().enumerate() {
            let odds = experience_odds[index];
            row(driver, "experience", &|(experiences, _, _)| experiences[index], odds);
        }
        for topic in (0..topics).filter(|&topic| self.driver_rows.iter().any(|(_, mask, _)| mask & (1 << topic) != 0)) {
            let odds = topic_odds.get(&topic).copied();
            row(&settings.complaint_topics[topic], "complaint topic", &|(_, mask, _)| mask & (1 << topic) != 0, odds);
        }
        drivers.table("detractor_drivers")
    }
}

/// The log odds ratio of each column of `x` after the first (the intercept), with its
/// Wald interval, from a logistic regression of `y`. Columns that do not vary (an
/// experience nobody had) are left out of the fit and get `None`, as do all of them when
/// the fit fails.
fn odds_ratios(x: &[Vec<f64>], y: &[bool], columns: usize, confidence: f64) -> Vec<Option<Interval>> {
    let varying: Vec<usize> = (1..columns).filter(|&column| x.iter().any(|row| row[column] != x[0][column])).collect();
    let design: Vec<Vec<f64>> =
        x.iter().map(|row| std::iter::once(row[0]).chain(varying.iter().map(|&column| row[column])).collect()).collect();
    let fit = rapport_stats::regression::logistic(&design, y);
    (1..columns)
        .map(|column| {
            let position = varying.iter().position(|&kept| kept == column)?;
            fit.as_ref().map(|fit| fit.interval(position + 1, confidence))
        })
        .collect()
}

/// Builds a table row by row.
#[derive(Debug, Default)]
struct Columns {
    columns: Vec<(String, Values)>,
}

impl Columns {
    fn slot(&mut self, name: &str, empty: impl FnOnce() -> Values) -> &mut Values {
        let index = match self.columns.iter().position(|(column, _)| column == name) {
            Some(index) => index,
            None => {
                self.columns.push((name.to_string(), empty()));
                self.columns.len() - 1
            }
        };
        &mut self.columns[index].1
    }
    fn text(&mut self, name: &str, value: &str) {
        if let Values::Text(values) = self.slot(name, || Values::Text(Vec::new())) {
            values.push(Some(value.to_string()));
        }
    }
    fn number(&mut self, name: &str, value: f64) {
        if let Values::Number(values) = self.slot(name, || Values::Number(Vec::new())) {
            values.push(value);
        }
    }
    fn count(&mut self, name: &str, value: u64) {
        if let Values::Count(values) = self.slot(name, || Values::Count(Vec::new())) {
            values.push(value);
        }
    }
    fn interval(&mut self, interval: Interval) {
        self.count("n", interval.n);
        self.number("estimate", interval.estimate);
        self.number("lower", interval.lower);
        self.number("upper", interval.upper);
    }
    fn table(self, name: &str) -> Table {
        Table { name: name.to_string(), columns: self.columns }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Answer, Purchase};

    const MARCH: i64 = 1_740_787_200; // 2025-03-01T00:00:00Z

    fn answering(customer: &str, scores: &[(i64, f64)]) -> Timeline {
        let answers = scores
            .iter()
            .map(|(time, score)| Answer {
                survey: SurveyType::Nps,
                score: *score,
                time: *time,
                touchpoint: None,
                stage: None,
                channel: None,
            })
            .collect();
        let purchases = vec![Purchase { time: MARCH - 400 * DAY, day: 0, amount: 10.0, margin: None, order_time: None, order: 0 }];
        Timeline { customer: customer.into(), answers, purchases, ..Timeline::default() }
    }

    fn settings() -> Settings {
        Settings::new(MARCH + 60 * DAY, Zone::Utc)
    }

    /// Complaints of one customer message each (a social export whose replies carry the
    /// brand's id, so the customer's tweets stand alone) close as they opened: the
    /// recovery rate is skipped with the reason, not shown as 0%. With a second customer
    /// message in one conversation, the rate is back (1 recovered of 11: Wilson).
    #[test]
    fn recovery_needs_a_conversation_that_could_show_one() {
        use crate::timeline::{Conversation, Tone};
        let said = |opening: Tone, closing: Tone, texts: u32| Conversation {
            start: MARCH,
            channel: "social".into(),
            agent: None,
            first_response_seconds: None,
            duration_seconds: 0,
            resolved: false,
            resolution_stated: false,
            opening: Some(opening),
            closing: Some(closing),
            customer_texts: texts,
            replies_before_start: 0,
            topic: None,
        };
        let settings = settings();
        let mut measures = Measures::default();
        for index in 0..10 {
            let mut timeline = answering(&format!("c{index}"), &[]);
            timeline.conversations.push(said(Tone::Negative, Tone::Negative, 1));
            measures.update(&timeline, &settings);
        }
        let (headlines, skipped) = measures.clone().headlines(&settings, "USD");
        assert!(!headlines.contains_key("recovery_rate"));
        assert!(skipped["recovery_rate"].contains("none of the 10 conversations that opened negative"), "{}", skipped["recovery_rate"]);
        let mut timeline = answering("again", &[]);
        timeline.conversations.push(said(Tone::Negative, Tone::Positive, 2));
        measures.update(&timeline, &settings);
        let (headlines, _) = measures.headlines(&settings, "USD");
        let rate = &headlines["recovery_rate"];
        let expected = rapport_stats::intervals::wilson(1, 11, 0.95).scaled(100.0);
        assert_eq!((rate.estimate, rate.lower, rate.upper, rate.n), (expected.estimate, Some(expected.lower), Some(expected.upper), 11));
    }

    /// Without a purchase in the data, the effects of a bad experience on buying again are
    /// skipped (every arm bought again 0%), not shown as 0 points; one purchase and they
    /// are estimated.
    #[test]
    fn bad_experience_effects_need_purchases() {
        use crate::timeline::{Conversation, Tone};
        let settings = Settings::new(MARCH + 400 * DAY, Zone::Utc);
        let conversation = |closing: Tone, resolved: bool| Conversation {
            start: MARCH,
            channel: "social".into(),
            agent: None,
            first_response_seconds: None,
            duration_seconds: 0,
            resolved,
            resolution_stated: true,
            opening: Some(Tone::Negative),
            closing: Some(closing),
            customer_texts: 2,
            replies_before_start: 0,
            topic: None,
        };
        let mut timelines: Vec<Timeline> = (0..20)
            .map(|index| {
                let mut timeline = Timeline { customer: format!("c{index}"), ..Timeline::default() };
                let closing = if index % 2 == 0 { Tone::Positive } else { Tone::Negative };
                timeline.conversations.push(conversation(closing, index % 3 == 0));
                timeline
            })
            .collect();
        let measure = |timelines: &[Timeline]| {
            let mut measures = Measures::default();
            timelines.iter().for_each(|timeline| measures.update(timeline, &settings));
            measures.headlines(&settings, "GBP")
        };
        let (headlines, skipped) = measure(&timelines);
        for name in ["recovered_retention_effect", "bad_experience_churn_effect"] {
            assert!(!headlines.contains_key(name), "{name}: {:?}", headlines.get(name));
            assert!(skipped[name].contains("with purchases"), "{name}: {}", skipped[name]);
        }
        timelines[0].purchases.push(Purchase { time: MARCH + 10 * DAY, day: 0, amount: 10.0, margin: None, order_time: None, order: 0 });
        let (headlines, _) = measure(&timelines);
        assert!(headlines.contains_key("recovered_retention_effect") && headlines.contains_key("bad_experience_churn_effect"));
    }

    /// 200 answers, 100 promoters, 40 detractors: NPS 29.6 ± 10.7 by adjusted Wald (the
    /// worked example of Sauro & Lewis, as in `rapport_stats::intervals`), here through
    /// the whole accumulator; split-then-merge equals one pass.
    #[test]
    fn nps_through_the_accumulator_and_merge() {
        let mut timelines = Vec::new();
        for index in 0..200 {
            let score = if index < 100 {
                10.0
            } else if index < 160 {
                8.0
            } else {
                3.0
            };
            timelines.push(answering(&format!("c{index}"), &[(MARCH + DAY, score)]));
        }
        let settings = settings();
        let mut whole = Measures::default();
        timelines.iter().for_each(|timeline| whole.update(timeline, &settings));
        let (mut left, mut right) = (Measures::default(), Measures::default());
        timelines[..77].iter().for_each(|timeline| left.update(timeline, &settings));
        timelines[77..].iter().for_each(|timeline| right.update(timeline, &settings));
        left.merge(right);
        let (headlines, skipped) = whole.headlines(&settings, "GBP");
        let nps = &headlines["nps"];
        assert_eq!(nps.n, 200);
        // The estimate is the NPS as computed everywhere (30); the bounds are adjusted Wald's (29.6 ± 10.7).
        assert!((nps.estimate - 30.0).abs() < 1e-9, "{nps:?}");
        let (lower, upper) = (nps.lower.unwrap_or(f64::NAN), nps.upper.unwrap_or(f64::NAN));
        assert!(((upper - lower) / 2.0 - 10.7).abs() < 0.05 && ((upper + lower) / 2.0 - 29.6).abs() < 0.05, "{nps:?}");
        assert_eq!(left.headlines(&settings, "GBP").0["nps"], *nps);
        assert!(skipped.contains_key("csat") && skipped.contains_key("recovery_rate"));
    }

    /// The monthly breakdown carries the change against the previous month with answers.
    #[test]
    fn monthly_nps_change_against_the_month_before() {
        let settings = settings();
        let mut measures = Measures::default();
        measures.update(&answering("a", &[(MARCH + DAY, 10.0), (MARCH + 32 * DAY, 2.0)]), &settings);
        measures.update(&answering("b", &[(MARCH + 2 * DAY, 10.0), (MARCH + 33 * DAY, 9.0)]), &settings);
        let tables = measures.breakdowns(&settings);
        let voc = tables.iter().find(|table| table.name == "voice_of_customer").expect("voc");
        let column = |name: &str| voc.columns.iter().find(|(column, _)| column == name).map(|(_, values)| values.clone()).expect(name);
        let (Values::Text(values), Values::Number(change)) = (column("value"), column("change")) else { panic!("types") };
        let april = values.iter().position(|value| value.as_deref() == Some("2025-04")).expect("April");
        let march = values.iter().position(|value| value.as_deref() == Some("2025-03")).expect("March");
        assert!(change[march].is_nan(), "no month before March");
        // April (one promoter, one detractor) against March (two promoters): the raw
        // change, with the adjusted interval's bounds.
        let march_counts = NpsCounts { promoters: 2, passives: 0, detractors: 0 };
        let april_counts = NpsCounts { promoters: 1, passives: 0, detractors: 1 };
        let bounds = april_counts.change_since(&march_counts, 0.95).scaled(100.0);
        assert!(bounds.lower < -100.0 && bounds.upper > -100.0 || bounds.lower == -200.0, "{bounds:?}");
        assert!((change[april] - (0.0 - 100.0)).abs() < 1e-9, "raw April 0 against March 100: {}", change[april]);
    }

    /// Complaint topics as detractor drivers: customers who complained about topic 0
    /// before answering are detractors 60% of the time, those who complained about topic
    /// 1 as often as everyone else (10%). Topic 0's odds ratio interval lies above 1 and
    /// holds the planted odds ratio (0.6/0.4)/(0.1/0.9) = 13.5; topic 1's covers 1; a
    /// topic every one of whose answers is a detractor has no finite odds ratio.
    #[test]
    fn complaint_topics_as_detractor_drivers() {
        use crate::timeline::{Conversation, Tone};
        let complaint = |topic: u16| Conversation {
            start: MARCH,
            channel: "chat".into(),
            agent: Some("ana".into()),
            first_response_seconds: Some(600),
            duration_seconds: 3_600,
            resolved: true,
            resolution_stated: true,
            opening: Some(Tone::Negative),
            closing: Some(Tone::Neutral),
            customer_texts: 2,
            replies_before_start: 0,
            topic: Some(topic),
        };
        let mut settings = settings();
        settings.complaint_topics = vec!["late, parcel".into(), "app, crash".into(), "rude".into()];
        let mut measures = Measures::default();
        for index in 0..3_000 {
            let (topic, detractor) = match index % 3 {
                0 => (Some(0), index % 30 < 18),
                1 => (Some(1), index % 30 < 3),
                _ => (None, index % 30 < 3),
            };
            let mut timeline = answering(&format!("c{index}"), &[(MARCH + DAY, if detractor { 2.0 } else { 9.0 })]);
            timeline.conversations.extend(topic.map(complaint));
            measures.update(&timeline, &settings);
        }
        let mut timeline = answering("x", &[(MARCH + DAY, 0.0)]);
        timeline.conversations.push(complaint(2));
        measures.update(&timeline, &settings);
        let drivers = measures.drivers_table(&settings);
        let column = |name: &str| drivers.columns.iter().find(|(column, _)| column == name).map(|(_, values)| values.clone()).expect(name);
        let (Values::Text(names), Values::Number(odds), Values::Number(lower), Values::Number(upper)) =
            (column("driver"), column("odds_ratio"), column("odds_ratio_lower"), column("odds_ratio_upper"))
        else {
            panic!("types")
        };
        let at = |name: &str| names.iter().position(|value| value.as_deref() == Some(name)).expect(name);
        let (late, app, rude) = (at("late, parcel"), at("app, crash"), at("rude"));
        assert!(lower[late] > 1.0 && lower[late] < 13.5 && 13.5 < upper[late], "{} [{}, {}]", odds[late], lower[late], upper[late]);
        assert!(lower[app] < 1.0 && 1.0 < upper[app], "{} [{}, {}]", odds[app], lower[app], upper[app]);
        assert!(odds[rude].is_nan());
    }
}
