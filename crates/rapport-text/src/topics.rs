//! Complaint topics ("pain points"): group texts by what they are about, label each group
//! with its key terms and phrases, and pick the number of groups from the data.
//!
//! The method is the standard one for short texts, chosen to be deterministic and fast:
//!
//! 1. **Terms.** Lower-case words without handles, links, numbers and English stop words
//!    (NLTK's list, from the `stop-words` crate, plus greetings and politeness that every
//!    complaint shares), stemmed with Snowball (`rust-stemmers`), and the two-word phrases
//!    of adjacent kept words. Terms in fewer than `min_df` texts, or in more than half of
//!    them, are dropped.
//! 2. **Vectors.** Sublinear TF-IDF, each text scaled to unit length.
//! 3. **Clusters.** Spherical k-means (cosine similarity) with k-means++ seeding from a
//!    seeded ChaCha generator and several restarts; the run with the highest total
//!    similarity wins. Written here rather than taken from `linfa`, because linfa's
//!    k-means needs dense rows and a TF-IDF matrix of 100,000 texts × 20,000 terms is
//!    sparse; here each step costs the number of non-zero entries.
//! 4. **How many topics.** Unless given, k = 2, 3, … is fitted and the mean silhouette
//!    (cosine distance, on a fixed sample of up to 1,500 texts) computed for each; the
//!    first k where it stops rising (its first peak) is kept, or `max_topics` if it only
//!    rises.
//! 5. **Labels.** Class-based TF-IDF (Grootendorst's c-TF-IDF): a term's share of the
//!    topic's words times `ln(1 + A / f)`, where `A` is the mean number of words per topic
//!    and `f` the term's count over all topics. The label is the three best terms or
//!    phrases, in the words customers used (the most frequent surface form of each stem).
//!
//! The same texts, options and seed give the same topics on any machine and thread count:
//! all floating-point sums run in a fixed order.

use foldhash::fast::FixedState;
use hashbrown::{HashMap, HashSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rust_stemmers::{Algorithm, Stemmer};

/// Words every customer message shares, on top of NLTK's English stop words.
const EXTRA_STOP_WORDS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "please",
    "pls",
    "plz",
    "thanks",
    "thank",
    "thx",
    "ty",
    "dm",
    "im",
    "ive",
    "id",
    "ill",
    "youre",
    "dont",
    "doesnt",
    "didnt",
    "cant",
    "wont",
    "isnt",
    "wasnt",
    "arent",
    "havent",
    "hasnt",
    "get",
    "got",
    "would",
    "could",
    "also",
    "us",
    "one",
    "even",
    "still",
    "just",
    "really",
    "today",
    "yesterday",
    "guys",
    "amp",
    "via",
    "u",
    "ur",
    "ok",
    "okay",
    "yes",
    "yet",
];

/// How to find topics.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicOptions {
    /// The number of topics; `None` chooses it by silhouette.
    pub topics: Option<usize>,
    /// The largest number of topics tried when choosing.
    pub max_topics: usize,
    /// Seed of the k-means++ seeding and the silhouette sample.
    pub seed: u64,
    /// k-means runs per k; the best is kept.
    pub restarts: usize,
    /// Terms in fewer texts than this are dropped (`None`: 2, or 0.1% of texts if more).
    pub min_df: Option<usize>,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions { topics: None, max_topics: 12, seed: 42, restarts: 10, min_df: None }
    }
}

/// One topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    /// Its three key terms or phrases, e.g. "refund, money back, processing".
    pub label: String,
    /// Key single words, best first.
    pub terms: Vec<String>,
    /// Key two-word phrases, best first.
    pub phrases: Vec<String>,
    /// Texts assigned to it.
    pub size: usize,
    /// Indices of the texts nearest its centre, nearest first.
    pub examples: Vec<usize>,
}

/// Topics of a set of texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    /// Topics, largest first.
    pub topics: Vec<Topic>,
    /// Each text's topic (an index into `topics`); `None` for a text with no usable words.
    pub assignments: Vec<Option<usize>>,
    /// Mean silhouette of each k tried (up to one past the peak), when the number of topics was chosen.
    pub silhouettes: Vec<(usize, f64)>,
    /// Terms kept after frequency filtering.
    pub vocabulary: usize,
    /// What [`Topics::assigner`] needs to place texts that were not clustered.
    model: Option<Model>,
}

/// The fitted vocabulary and centres, kept to assign further texts.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    ids: HashMap<String, u32, FixedState>,
    idf: Vec<f32>,
    /// Unit centres, term-major (`centroids[term * k + cluster]`).
    centroids: Vec<f32>,
    k: usize,
    /// Cluster → its topic's index in `topics` (clusters left empty rank last, at or
    /// past `topics.len()`, and are never assigned).
    rank: Vec<usize>,
    topics: usize,
}

impl Topics {
    /// Something that places further texts (e.g. the rest of a corpus the topics were
    /// found on a sample of) in the nearest topic by the same terms and weights; `None`
    /// when no topics were found.
    pub fn assigner(&self) -> Option<Assigner<'_>> {
        let model = self.model.as_ref()?;
        Some(Assigner { model, stop: stop_words_set(), stemmer: Stemmer::create(Algorithm::English) })
    }
}

/// The fitted vocabulary and centres on their own, as what places texts in the topics
/// where the texts are (a DataFusion function on cluster executors): it travels as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicModel {
    model: Model,
}

/// [`TopicModel`] as it travels: the vocabulary as (term, id) pairs sorted by term, so
/// the JSON of one model is always the same text.
#[derive(serde::Serialize, serde::Deserialize)]
struct ModelWire {
    terms: Vec<(String, u32)>,
    idf: Vec<f32>,
    centroids: Vec<f32>,
    k: usize,
    rank: Vec<usize>,
    topics: usize,
}

impl Topics {
    /// The model that places further texts, to carry elsewhere; `None` when no topics
    /// were found.
    pub fn model(&self) -> Option<TopicModel> {
        self.model.clone().map(|model| TopicModel { model })
    }
}

impl TopicModel {
    /// The assigner of this model (the same placements as [`Topics::assigner`]).
    pub fn assigner(&self) -> Assigner<'_> {
        Assigner { model: &self.model, stop: stop_words_set(), stemmer: Stemmer::create(Algorithm::English) }
    }

    /// The model as JSON (floats kept bit for bit).
    pub fn to_json(&self) -> String {
        let model = &self.model;
        let mut terms: Vec<(String, u32)> = model.ids.iter().map(|(term, id)| (term.clone(), *id)).collect();
        terms.sort_unstable();
        let wire = ModelWire {
            terms,
            idf: model.idf.clone(),
            centroids: model.centroids.clone(),
            k: model.k,
            rank: model.rank.clone(),
            topics: model.topics,
        };
        serde_json::to_string(&wire).expect("a topic model is JSON")
    }

    /// The model [`TopicModel::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<TopicModel, String> {
        let wire: ModelWire = serde_json::from_str(text).map_err(|error| format!("the topic model: {error}"))?;
        let terms = wire.terms.len();
        let consistent = wire.idf.len() == terms
            && wire.centroids.len() == terms * wire.k
            && wire.rank.len() == wire.k
            && wire.terms.iter().all(|(_, id)| (*id as usize) < terms);
        if !consistent {
            return Err("the topic model: its vocabulary, weights and centres do not match".to_string());
        }
        let ids = wire.terms.into_iter().collect();
        Ok(TopicModel { model: Model { ids, idf: wire.idf, centroids: wire.centroids, k: wire.k, rank: wire.rank, topics: wire.topics } })
    }
}

/// Places texts in the topics they are nearest to (see [`Topics::assigner`]).
pub struct Assigner<'a> {
    model: &'a Model,
    stop: HashSet<String, FixedState>,
    stemmer: Stemmer,
}

impl std::fmt::Debug for Assigner<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Assigner").field("topics", &self.model.k).finish_non_exhaustive()
    }
}

impl Assigner<'_> {
    /// The topic (an index into [`Topics::topics`]) nearest to `text` by cosine
    /// similarity of its TF-IDF vector; `None` when it has no word of the vocabulary.
    pub fn assign(&self, text: &str) -> Option<usize> {
        let model = self.model;
        let words = words(text, &self.stemmer, &self.stop);
        let mut counts: HashMap<u32, f32, FixedState> = HashMap::default();
        for term in terms_of(&words) {
            if let Some(&id) = model.ids.get(term.as_str()) {
                *counts.entry(id).or_default() += 1.0;
            }
        }
        if counts.is_empty() {
            return None;
        }
        // The text's norm scales every score alike, so the nearest centre needs no division.
        let mut scores = vec![0.0f32; model.k];
        for (id, n) in counts {
            let weight = (1.0 + n.ln()) * model.idf[id as usize];
            let base = id as usize * model.k;
            for (score, centroid) in scores.iter_mut().zip(&model.centroids[base..base + model.k]) {
                *score += weight * centroid;
            }
        }
        let mut best = (0, f32::NEG_INFINITY);
        for (cluster, score) in scores.into_iter().enumerate() {
            if score > best.1 && model.rank[cluster] < model.topics {
                best = (cluster, score);
            }
        }
        Some(model.rank[best.0]).filter(|&topic| topic < model.topics)
    }
}

fn stop_words_set() -> HashSet<String, FixedState> {
    stop_words::get("en").iter().map(|word| word.replace('\'', "")).chain(EXTRA_STOP_WORDS.iter().map(|word| word.to_string())).collect()
}

/// A text's terms: its kept stems and the two-word phrases of adjacent kept words.
fn terms_of(words: &[Option<(String, String)>]) -> Vec<String> {
    let mut terms: Vec<String> = words.iter().flatten().map(|(stem, _)| stem.clone()).collect();
    for pair in words.windows(2) {
        if let [Some((first, _)), Some((second, _))] = pair
            && first != second
        {
            terms.push(format!("{first} {second}"));
        }
    }
    terms
}

/// A text as (term id, count, TF-IDF weight), sorted by id.
type Vector = Vec<(u32, f32, f32)>;

/// Find the topics of `texts`.
pub fn find_topics(texts: &[&str], options: &TopicOptions) -> Topics {
    let stop = stop_words_set();
    let stemmer = Stemmer::create(Algorithm::English);
    // 1. Terms of each text, on all cores.
    let documents: Vec<Vec<Option<(String, String)>>> = texts.par_iter().map(|text| words(text, &stemmer, &stop)).collect();
    let document_terms: Vec<Vec<String>> = documents.par_iter().map(|words| terms_of(words)).collect();
    let mut document_frequency: HashMap<&str, u32, FixedState> = HashMap::default();
    for terms in &document_terms {
        let unique: HashSet<&str, FixedState> = terms.iter().map(String::as_str).collect();
        for term in unique {
            *document_frequency.entry(term).or_default() += 1;
        }
    }
    let count = texts.len();
    let min_df = options.min_df.unwrap_or_else(|| 2.max(count / 1000)) as u32;
    let max_df = (count as f64 * 0.5).max(2.0) as u32;
    let mut kept: Vec<(&str, u32)> =
        document_frequency.iter().filter(|(_, df)| **df >= min_df && **df <= max_df).map(|(term, df)| (*term, *df)).collect();
    kept.sort_unstable();
    let ids: HashMap<&str, u32, FixedState> = kept.iter().enumerate().map(|(id, (term, _))| (*term, id as u32)).collect();
    let idf: Vec<f32> = kept.iter().map(|(_, df)| ((1.0 + count as f64) / (1.0 + f64::from(*df))).ln() as f32 + 1.0).collect();
    // 2. Unit-length sublinear TF-IDF vectors.
    let vectors: Vec<Vector> = document_terms
        .par_iter()
        .map(|terms| {
            let mut counts: HashMap<u32, f32, FixedState> = HashMap::default();
            for term in terms {
                if let Some(&id) = ids.get(term.as_str()) {
                    *counts.entry(id).or_default() += 1.0;
                }
            }
            let mut vector: Vector = counts.into_iter().map(|(id, n)| (id, n, (1.0 + n.ln()) * idf[id as usize])).collect();
            vector.sort_unstable_by_key(|entry| entry.0);
            let norm = vector.iter().map(|entry| entry.2 * entry.2).sum::<f32>().sqrt();
            for entry in &mut vector {
                entry.2 /= norm;
            }
            vector
        })
        .collect();
    let usable: Vec<usize> = (0..count).filter(|&index| !vectors[index].is_empty()).collect();
    let dimension = kept.len();
    let mut result =
        Topics { topics: Vec::new(), assignments: vec![None; count], silhouettes: Vec::new(), vocabulary: dimension, model: None };
    if usable.is_empty() {
        return result;
    }
    let rows: Vec<&Vector> = usable.iter().map(|&index| &vectors[index]).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    // 3–4. Cluster, choosing k by silhouette unless it is given.
    let largest = options.max_topics.min(rows.len() / 5).max(1);
    let (k, clustering) = match options.topics {
        Some(k) => {
            let k = k.clamp(1, rows.len());
            (k, best_of(&rows, dimension, k, options.restarts, &mut rng))
        }
        None if largest < 2 => (1, best_of(&rows, dimension, 1, 1, &mut rng)),
        None => {
            // The first k at which the silhouette stops rising. On short texts the curve
            // often keeps creeping up as near-identical messages split into their own
            // groups; its first peak is where the themes are, and fewer, broader topics
            // are what an analyst can act on (the same preference for the smallest
            // adequate k as the gap statistic's rule). The whole curve is reported, and
            // --topics overrides it.
            let sample = silhouette_sample(&rows, &mut rng);
            let mut previous: Option<(f64, usize, Clustering)> = None;
            let mut chosen = None;
            for k in 2..=largest {
                let clustering = best_of(&rows, dimension, k, options.restarts, &mut rng);
                let score = silhouette(&sample, &clustering.assignment, k);
                result.silhouettes.push((k, score));
                if let Some((previous_score, _, _)) = &previous
                    && score <= *previous_score
                {
                    chosen = previous.take();
                    break;
                }
                previous = Some((score, k, clustering));
            }
            let (_, k, clustering) = chosen.or(previous).expect("at least one k");
            (k, clustering)
        }
    };
    // 5. Labels, sizes and examples; topics ordered by size.
    let mut topics: Vec<Option<Topic>> = describe(&rows, &kept, &documents, &usable, &clustering, k).into_iter().map(Some).collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&topic| (std::cmp::Reverse(topics[topic].as_ref().map_or(0, |topic| topic.size)), topic));
    let mut rank = vec![0; k];
    for (position, &topic) in order.iter().enumerate() {
        rank[topic] = position;
    }
    for (row, &index) in usable.iter().enumerate() {
        result.assignments[index] = Some(rank[clustering.assignment[row]]);
    }
    for topic in topics.iter_mut().flatten() {
        topic.examples = topic.examples.iter().map(|&row| usable[row]).collect();
    }
    result.topics = order.into_iter().filter_map(|topic| topics[topic].take()).filter(|topic| topic.size > 0).collect();
    result.model = Some(Model {
        ids: kept.iter().enumerate().map(|(id, (term, _))| (term.to_string(), id as u32)).collect(),
        idf,
        centroids: clustering.centroids,
        k,
        rank,
        topics: result.topics.len(),
    });
    result
}

/// A text's kept words as (stem, surface form); `None` where a word was dropped, so that
/// phrases are only formed from words that were next to each other.
fn words(text: &str, stemmer: &Stemmer, stop: &HashSet<String, FixedState>) -> Vec<Option<(String, String)>> {
    let mut words = Vec::new();
    for token in text.split_whitespace() {
        if token.starts_with('@') || token.starts_with("http") || token.starts_with("www.") {
            words.push(None);
            continue;
        }
        for piece in token.split(|character: char| !(character.is_alphanumeric() || character == '\'' || character == '’')) {
            let word: String =
                piece.chars().filter(|character| *character != '\'' && *character != '’').flat_map(char::to_lowercase).collect();
            if word.chars().count() < 2 || word.chars().all(|character| character.is_numeric()) || stop.contains(&word) {
                if !piece.is_empty() {
                    words.push(None);
                }
                continue;
            }
            let stem = stemmer.stem(&word).into_owned();
            words.push(Some((stem, word)));
        }
    }
    words
}

/// One k-means result.
#[derive(Debug, Clone)]
struct Clustering {
    /// Cluster of each row.
    assignment: Vec<usize>,
    /// Unit centroids, term-major: `centroids[term * k + cluster]`.
    centroids: Vec<f32>,
    /// Total cosine similarity of rows to their centroids.
    objective: f64,
}

fn dot(row: &Vector, centroids: &[f32], k: usize, cluster: usize) -> f32 {
    row.iter().map(|&(id, _, weight)| weight * centroids[id as usize * k + cluster]).sum()
}

fn sparse_dot(a: &Vector, b: &Vector) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].2 * b[j].2;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// The best of `restarts` spherical k-means runs.
fn best_of(rows: &[&Vector], dimension: usize, k: usize, restarts: usize, rng: &mut ChaCha8Rng) -> Clustering {
    let mut best: Option<Clustering> = None;
    for _ in 0..restarts.max(1) {
        let clustering = spherical_kmeans(rows, dimension, k, rng);
        if best.as_ref().is_none_or(|best| clustering.objective > best.objective + 1e-9) {
            best = Some(clustering);
        }
    }
    best.expect("at least one run")
}

fn spherical_kmeans(rows: &[&Vector], dimension: usize, k: usize, rng: &mut ChaCha8Rng) -> Clustering {
    let n = rows.len();
    // k-means++ seeding on cosine distance.
    let mut centroids = vec![0.0f32; dimension * k];
    let mut nearest = vec![f32::NEG_INFINITY; n];
    let mut chosen = rng.random_range(0..n);
    for cluster in 0..k {
        for &(id, _, weight) in rows[chosen] {
            centroids[id as usize * k + cluster] = weight;
        }
        if cluster + 1 == k {
            break;
        }
        let similarities: Vec<f32> = rows.par_iter().map(|row| dot(row, &centroids, k, cluster)).collect();
        for (best, similarity) in nearest.iter_mut().zip(similarities) {
            *best = best.max(similarity);
        }
        let weights: Vec<f64> = nearest.iter().map(|similarity| f64::from((1.0 - similarity).max(0.0)).powi(2)).collect();
        let total: f64 = weights.iter().sum();
        chosen = if total <= 0.0 {
            rng.random_range(0..n)
        } else {
            let mut target = rng.random::<f64>() * total;
            weights
                .iter()
                .position(|weight| {
                    target -= weight;
                    target <= 0.0
                })
                .unwrap_or(n - 1)
        };
    }
    let mut assignment = vec![usize::MAX; n];
    let mut objective = 0.0;
    for _ in 0..100 {
        let best: Vec<(usize, f32)> = rows
            .par_iter()
            .map(|row| {
                let mut scores = vec![0.0f32; k];
                for &(id, _, weight) in row.iter() {
                    let base = id as usize * k;
                    for (score, centroid) in scores.iter_mut().zip(&centroids[base..base + k]) {
                        *score += weight * centroid;
                    }
                }
                let mut best = (0, f32::NEG_INFINITY);
                for (cluster, score) in scores.into_iter().enumerate() {
                    if score > best.1 {
                        best = (cluster, score);
                    }
                }
                best
            })
            .collect();
        let changed = best.iter().zip(&assignment).filter(|((cluster, _), old)| cluster != *old).count();
        for (slot, (cluster, _)) in assignment.iter_mut().zip(&best) {
            *slot = *cluster;
        }
        objective = best.iter().map(|(_, score)| f64::from(*score)).sum();
        // A cluster that lost every row takes the row farthest from its own centre.
        let mut sizes = vec![0usize; k];
        for &cluster in &assignment {
            sizes[cluster] += 1;
        }
        for cluster in 0..k {
            if sizes[cluster] == 0
                && let Some(row) = (0..n).filter(|&row| sizes[assignment[row]] > 1).min_by(|&a, &b| best[a].1.total_cmp(&best[b].1))
            {
                sizes[assignment[row]] -= 1;
                assignment[row] = cluster;
                sizes[cluster] = 1;
            }
        }
        centroids.iter_mut().for_each(|value| *value = 0.0);
        for (row, &cluster) in rows.iter().zip(&assignment) {
            for &(id, _, weight) in row.iter() {
                centroids[id as usize * k + cluster] += weight;
            }
        }
        let mut norms = vec![0.0f32; k];
        for chunk in centroids.chunks(k) {
            for (norm, value) in norms.iter_mut().zip(chunk) {
                *norm += value * value;
            }
        }
        for chunk in centroids.chunks_mut(k) {
            for (value, norm) in chunk.iter_mut().zip(&norms) {
                if *norm > 0.0 {
                    *value /= norm.sqrt();
                }
            }
        }
        if changed == 0 {
            break;
        }
    }
    Clustering { assignment, centroids, objective }
}

/// A fixed sample of rows with their pairwise cosine similarities.
struct Sample {
    rows: Vec<usize>,
    similarity: Vec<f32>,
}

fn silhouette_sample(rows: &[&Vector], rng: &mut ChaCha8Rng) -> Sample {
    let mut indices: Vec<usize> = (0..rows.len()).collect();
    let size = rows.len().min(1500);
    for i in 0..size {
        let j = rng.random_range(i..rows.len());
        indices.swap(i, j);
    }
    indices.truncate(size);
    let similarity: Vec<f32> = indices.par_iter().flat_map_iter(|&a| indices.iter().map(move |&b| sparse_dot(rows[a], rows[b]))).collect();
    Sample { rows: indices, similarity }
}

/// Mean silhouette of the sample under `assignment`, with cosine distance.
fn silhouette(sample: &Sample, assignment: &[usize], k: usize) -> f64 {
    let m = sample.rows.len();
    let clusters: Vec<usize> = sample.rows.iter().map(|&row| assignment[row]).collect();
    let mut sizes = vec![0usize; k];
    for &cluster in &clusters {
        sizes[cluster] += 1;
    }
    let scores: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|i| {
            let own = clusters[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            let mut distance = vec![0.0f64; k];
            for j in 0..m {
                if j != i {
                    distance[clusters[j]] += f64::from(1.0 - sample.similarity[i * m + j]);
                }
            }
            let a = distance[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&cluster| cluster != own && sizes[cluster] > 0)
                .map(|cluster| distance[cluster] / sizes[cluster] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() || a.max(b) <= 0.0 { 0.0 } else { (b - a) / a.max(b) }
        })
        .collect();
    scores.iter().sum::<f64>() / m.max(1) as f64
}

fn describe(
    rows: &[&Vector],
    kept: &[(&str, u32)],
    documents: &[Vec<Option<(String, String)>>],
    usable: &[usize],
    clustering: &Clustering,
    k: usize,
) -> Vec<Topic> {
    // The words customers used for each stem: its most frequent surface form.
    let mut surfaces: HashMap<&str, HashMap<&str, u32, FixedState>, FixedState> = HashMap::default();
    for &index in usable {
        for (stem, surface) in documents[index].iter().flatten() {
            *surfaces.entry(stem.as_str()).or_default().entry(surface.as_str()).or_default() += 1;
        }
    }
    let surface = |stem: &str| -> String {
        surfaces
            .get(stem)
            .and_then(|forms| forms.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(form, _)| form.to_string()))
            .unwrap_or_else(|| stem.to_string())
    };
    let readable = |term: &str| -> String { term.split(' ').map(surface).collect::<Vec<_>>().join(" ") };
    // c-TF-IDF.
    let dimension = kept.len();
    let mut counts = vec![0.0f64; k * dimension];
    let mut sizes = vec![0usize; k];
    for (row, &cluster) in rows.iter().zip(&clustering.assignment) {
        sizes[cluster] += 1;
        for &(id, n, _) in row.iter() {
            counts[cluster * dimension + id as usize] += f64::from(n);
        }
    }
    let totals: Vec<f64> = (0..k).map(|cluster| counts[cluster * dimension..(cluster + 1) * dimension].iter().sum()).collect();
    let mean_total = totals.iter().sum::<f64>() / k as f64;
    let overall: Vec<f64> = (0..dimension).map(|id| (0..k).map(|cluster| counts[cluster * dimension + id]).sum()).collect();
    (0..k)
        .map(|cluster| {
            let mut scored: Vec<(f64, usize)> = (0..dimension)
                .filter(|&id| counts[cluster * dimension + id] > 0.0)
                .map(|id| {
                    let tf = counts[cluster * dimension + id] / totals[cluster].max(1.0);
                    (tf * (1.0 + mean_total / overall[id]).ln(), id)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let is_phrase = |id: usize| kept[id].0.contains(' ');
            let terms: Vec<String> =
                scored.iter().filter(|(_, id)| !is_phrase(*id)).take(10).map(|(_, id)| readable(kept[*id].0)).collect();
            let phrases: Vec<String> =
                scored.iter().filter(|(_, id)| is_phrase(*id)).take(5).map(|(_, id)| readable(kept[*id].0)).collect();
            // Label: the three best terms or phrases, without repeating a word.
            let mut label: Vec<String> = Vec::new();
            let mut covered: HashSet<&str, FixedState> = HashSet::default();
            for (_, id) in &scored {
                let term = kept[*id].0;
                let stems: Vec<&str> = term.split(' ').collect();
                if stems.iter().all(|stem| covered.contains(stem)) {
                    continue;
                }
                if !is_phrase(*id) && covered.contains(term) {
                    continue;
                }
                covered.extend(stems);
                label.push(readable(term));
                if label.len() == 3 {
                    break;
                }
            }
            // Examples: the members nearest the centre.
            let mut members: Vec<(f32, usize)> = (0..rows.len())
                .filter(|&row| clustering.assignment[row] == cluster)
                .map(|row| (dot(rows[row], &clustering.centroids, k, cluster), row))
                .collect();
            members.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            Topic {
                label: label.join(", "),
                terms,
                phrases,
                size: sizes[cluster],
                examples: members.iter().take(3).map(|(_, row)| *row).collect(),
            }
        })
        .collect()
}

/// Normalised mutual information between two labellings (arithmetic-mean normalisation,
/// as scikit-learn's `normalized_mutual_info_score`).
pub fn normalized_mutual_information(truth: &[usize], found: &[usize]) -> f64 {
    let n = truth.len() as f64;
    if truth.is_empty() {
        return 0.0;
    }
    let mut joint: HashMap<(usize, usize), f64, FixedState> = HashMap::default();
    let mut a: HashMap<usize, f64, FixedState> = HashMap::default();
    let mut b: HashMap<usize, f64, FixedState> = HashMap::default();
    for (&x, &y) in truth.iter().zip(found) {
        *joint.entry((x, y)).or_default() += 1.0;
        *a.entry(x).or_default() += 1.0;
        *b.entry(y).or_default() += 1.0;
    }
    let entropy = |counts: &HashMap<usize, f64, FixedState>| -> f64 { -counts.values().map(|c| (c / n) * (c / n).ln()).sum::<f64>() };
    let mut pairs: Vec<(&(usize, usize), &f64)> = joint.iter().collect();
    pairs.sort_by_key(|pair| *pair.0);
    let mutual: f64 = pairs.iter().map(|((x, y), c)| (**c / n) * ((**c * n) / (a[x] * b[y])).ln()).sum();
    let (h_a, h_b) = (entropy(&a), entropy(&b));
    if h_a + h_b <= 0.0 { 1.0 } else { (mutual / ((h_a + h_b) / 2.0)).clamp(0.0, 1.0) }
}

/// Purity: the share of texts whose found group's most common true label is their own.
pub fn purity(truth: &[usize], found: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let mut joint: HashMap<(usize, usize), usize, FixedState> = HashMap::default();
    for (&x, &y) in truth.iter().zip(found) {
        *joint.entry((y, x)).or_default() += 1;
    }
    let mut best: HashMap<usize, usize, FixedState> = HashMap::default();
    for ((group, _), count) in joint {
        let entry = best.entry(group).or_default();
        *entry = (*entry).max(count);
    }
    best.values().sum::<usize>() as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmi_and_purity_match_hand_computed_values() {
        // scikit-learn: normalized_mutual_info_score([0,0,1,1], [1,1,0,0]) == 1.0,
        // ([0,0,0,1,1,1], [0,0,1,1,2,2]) == 0.5158037429793889.
        assert!((normalized_mutual_information(&[0, 0, 1, 1], &[1, 1, 0, 0]) - 1.0).abs() < 1e-12);
        let nmi = normalized_mutual_information(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
        assert!((nmi - 0.515_803_742_979_388_9).abs() < 1e-12, "{nmi}");
        assert!((purity(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]) - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn separates_obvious_themes_and_labels_them_in_customers_words() {
        let mut texts = Vec::new();
        for index in 0..60 {
            texts.push(match index % 3 {
                0 => format!("@shop my refund never came, still waiting for the refund #{index}"),
                1 => format!("the app keeps crashing when I log in, app crashed again {index}"),
                _ => format!("the delivery driver was rude, rude delivery staff {index}"),
            });
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let topics = find_topics(&refs, &TopicOptions::default());
        assert_eq!(topics.topics.len(), 3, "{:?}", topics.silhouettes);
        let truth: Vec<usize> = (0..60).map(|index| index % 3).collect();
        let found: Vec<usize> = topics.assignments.iter().map(|topic| topic.expect("assigned")).collect();
        assert!((normalized_mutual_information(&truth, &found) - 1.0).abs() < 1e-9);
        let labels: Vec<&str> = topics.topics.iter().map(|topic| topic.label.as_str()).collect();
        assert!(labels.iter().any(|label| label.contains("refund")), "{labels:?}");
        assert!(labels.iter().any(|label| label.contains("crash") || label.contains("app")), "{labels:?}");
        assert!(labels.iter().any(|label| label.contains("rude")), "{labels:?}");

        // The assigner places every clustered text where clustering put it, and new texts
        // in the topic of their theme; a text with no known word stays unassigned.
        let assigner = topics.assigner().expect("topics were found");
        for (text, topic) in refs.iter().zip(&topics.assignments) {
            assert_eq!(assigner.assign(text), *topic, "{text}");
        }
        let topic_of = |index: usize| topics.assignments[index];
        assert_eq!(assigner.assign("where is my refund"), topic_of(0));
        assert_eq!(assigner.assign("app crashing on login"), topic_of(1));
        assert_eq!(assigner.assign("so rude, that driver"), topic_of(2));
        assert_eq!(assigner.assign("zebra xylophone"), None);

        // The model carried as JSON places every text as the assigner does, and its JSON
        // is one text; a model whose parts do not match is refused.
        let json = topics.model().expect("a model").to_json();
        let carried = TopicModel::from_json(&json).expect("the model reads back");
        assert_eq!(carried.to_json(), json);
        let carried = carried.assigner();
        for text in refs.iter().copied().chain(["where is my refund", "so rude, that driver", "zebra xylophone"]) {
            assert_eq!(carried.assign(text), assigner.assign(text), "{text}");
        }
        let broken = json.replacen("\"k\":", "\"k\":1", 1);
        assert!(TopicModel::from_json(&broken).is_err());
    }

    #[test]
    fn same_seed_same_topics_and_empty_texts_unassigned() {
        let texts = ["late delivery again", "", "refund missing", "delivery late", "!!!", "refund still missing", "late late delivery"];
        let options = TopicOptions { topics: Some(2), min_df: Some(1), ..TopicOptions::default() };
        let first = find_topics(&texts, &options);
        assert_eq!(first, find_topics(&texts, &options));
        assert_eq!(first.assignments[1], None);
        assert_eq!(first.assignments[4], None);
        assert!(find_topics(&[], &options).topics.is_empty());
    }
}
