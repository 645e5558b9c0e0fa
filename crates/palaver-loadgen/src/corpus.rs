//! A synthetic chat corpus for the search scenario: messages in several languages whose words
//! follow Zipf's law (the word of rank r is used in proportion to 1/r), as words in real text
//! do, so a corpus has a few words in nearly every message and a long tail of rare ones.
//!
//! Languages, by share of messages: English-like text (the 200 commonest English words, then
//! made-up words of a few syllables for the tail), accented Latin text (French, German and
//! Spanish words with their accents, and made-up accented words), Chinese (common words,
//! then made-up pairs of common characters, written without spaces) and some Japanese
//! (kanji, hiragana and katakana). A few fixed phrases ("release notes") recur, so phrase
//! queries have something to find. Everything is drawn from a seeded generator: the same
//! seed makes the same corpus.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The commonest English words, commonest first (after the usual frequency lists), with
/// some chat and software words mixed in.
const ENGLISH: &str = "the to and a of i in you it is that for on this we be have with not are \
    but at was so can do just what if all my me they from will your about there get like one \
    know an or up no out when how has by think now some would time more our was going people \
    good then here see make he well really back need go yes right only work today thanks \
    also could want new other because which their them after us been over did still let \
    should day any first last way too these into those very than much where team before \
    deploy release build server test fix bug issue review branch merge meeting tomorrow \
    week call update check problem question please sure done yet ready looks change code \
    data user users file error log logs config version feature api client page database \
    network cache queue job jobs run running again soon later morning lunch coffee weekend \
    office remote ticket sprint plan design docs link screen share channel room message \
    chat thread reply email calendar report customer support production staging monitor \
    alert latency memory disk cpu load backup restore migrate schema index query search";

/// Accented Latin words (French, German, Spanish), and their common unaccented neighbours.
const EUROPEAN: &str = "de la le et les des en un une du est que pour qui dans der die und das ist \
    nicht ich mit sie el los las por con para una más también café déjà été année français \
    très où à voilà crème brûlée naïve façade garçon fiancée résumé élève hôtel forêt château \
    über schön größe straße müde grüße mädchen frühstück käse bär tür brücke würde könnte \
    mañana niño señor corazón canción acción información también después árbol fácil \
    difícil rápido música teléfono pingüino año sí está aquí allí qué cómo cuándo";

/// Common Chinese words.
const CHINESE: &[&str] = &[
    "的",
    "是",
    "了",
    "我们",
    "在",
    "有",
    "这个",
    "不",
    "你",
    "他",
    "今天",
    "明天",
    "问题",
    "可以",
    "发布",
    "测试",
    "服务器",
    "部署",
    "中文",
    "搜索",
    "消息",
    "会议",
    "项目",
    "时间",
    "数据",
    "用户",
    "文件",
    "系统",
    "需要",
    "已经",
    "现在",
    "什么",
    "没有",
    "知道",
    "一下",
    "谢谢",
    "工作",
    "团队",
    "版本",
    "功能",
    "修复",
    "错误",
    "日志",
    "配置",
    "数据库",
    "网络",
    "性能",
    "内存",
    "客户",
    "支持",
    "上线",
    "周末",
    "早上",
    "下午",
    "晚上",
    "计划",
    "设计",
    "文档",
];

/// Characters the made-up Chinese words are drawn from.
const HAN: &str = "人大中国年生会出就个上们来到时地说子要也得下过家学对可她里后小么心多天而能好都然没\
    日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些\
    与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被\
    走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师";

/// Common Japanese words (kanji, hiragana, katakana).
const JAPANESE: &[&str] = &[
    "です",
    "ます",
    "東京",
    "会議",
    "明日",
    "今日",
    "よろしく",
    "お願いします",
    "サーバー",
    "デプロイ",
    "確認",
    "問題",
    "リリース",
    "テスト",
    "ありがとう",
    "資料",
    "チーム",
    "検索",
    "メッセージ",
    "データベース",
    "時間",
    "予定",
];

/// Katakana the made-up Japanese words are drawn from.
const KATAKANA: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";

/// Phrases that recur in English messages (about one message in 40 has one).
pub const PHRASES: &[&str] = &[
    "release notes",
    "on call",
    "pull request",
    "code review",
    "merge conflict",
    "happy birthday",
    "coffee break",
    "staging server",
];

/// Words of one language with their Zipf weights, sampled by rank.
pub struct Zipf {
    pub words: Vec<String>,
    /// Cumulative weights: `cumulative[r]` is the sum of 1/(k+1) for k <= r.
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(words: Vec<String>) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|r| {
                total += 1.0 / (r + 1) as f64;
                total
            })
            .collect();
        Zipf { words, cumulative }
    }

    /// A rank drawn with probability proportional to 1/(rank+1).
    pub fn rank(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        self.cumulative.partition_point(|&c| c < x).min(self.words.len() - 1)
    }

    pub fn word(&self, rng: &mut impl Rng) -> &str {
        &self.words[self.rank(rng)]
    }

    /// The share of all draws that are the word of `rank`.
    pub fn share(&self, rank: usize) -> f64 {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        1.0 / (rank + 1) as f64 / total
    }
}

/// Unique made-up words from `syllable`, added after `words` until there are `size`.
fn extend_with(
    words: &mut Vec<String>,
    size: usize,
    rng: &mut StdRng,
    mut syllable: impl FnMut(&mut StdRng) -> String,
) {
    let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
    while words.len() < size {
        let n = rng.random_range(2..=4);
        let word: String = (0..n).map(|_| syllable(rng)).collect();
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
}

fn pick<T: Copy>(rng: &mut impl Rng, from: &[T]) -> T {
    from[rng.random_range(0..from.len())]
}

/// The vocabularies of a corpus.
pub struct Corpus {
    pub english: Zipf,
    pub european: Zipf,
    pub chinese: Zipf,
    pub japanese: Zipf,
}

/// Which language a message is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    European,
    Chinese,
    Japanese,
    /// English with some Chinese in it.
    Mixed,
}

impl Corpus {
    /// Vocabularies of 30,000 English-like, 5,000 accented, 8,000 Chinese and 3,000
    /// Japanese words.
    pub fn new(seed: u64) -> Corpus {
        let mut rng = StdRng::seed_from_u64(seed);
        let consonants = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh", "tr"];
        let vowels = ["a", "e", "i", "o", "u", "ai", "ou"];
        let mut english: Vec<String> = ENGLISH.split_whitespace().map(str::to_owned).collect();
        english.dedup();
        let mut unique = std::collections::HashSet::new();
        english.retain(|w| unique.insert(w.clone()));
        extend_with(&mut english, 30_000, &mut rng, |rng| format!("{}{}", pick(rng, &consonants), pick(rng, &vowels)));

        let accented = ["é", "è", "ü", "ö", "ä", "ñ", "á", "í", "ó", "ç", "â", "ß"];
        let mut european: Vec<String> = EUROPEAN.split_whitespace().map(str::to_owned).collect();
        extend_with(&mut european, 5_000, &mut rng, |rng| {
            let vowel = if rng.random_bool(0.4) { pick(rng, &accented) } else { pick(rng, &vowels) };
            format!("{}{}", pick(rng, &consonants), vowel)
        });

        let han: Vec<char> = HAN.chars().filter(|c| !c.is_whitespace()).collect();
        let mut chinese: Vec<String> = CHINESE.iter().map(|w| (*w).to_owned()).collect();
        extend_with(&mut chinese, 8_000, &mut rng, |rng| pick(rng, &han).to_string());

        let katakana: Vec<char> = KATAKANA.chars().collect();
        let mut japanese: Vec<String> = JAPANESE.iter().map(|w| (*w).to_owned()).collect();
        extend_with(&mut japanese, 3_000, &mut rng, |rng| pick(rng, &katakana).to_string());

        Corpus {
            english: Zipf::new(english),
            european: Zipf::new(european),
            chinese: Zipf::new(chinese),
            japanese: Zipf::new(japanese),
        }
    }

    /// The share of messages in `language` (they add up to 1).
    pub fn share(language: Language) -> f64 {
        match language {
            Language::English => 0.70,
            Language::European => 0.12,
            Language::Chinese => 0.12,
            Language::Japanese => 0.04,
            Language::Mixed => 0.02,
        }
    }

    pub fn language(rng: &mut impl Rng) -> Language {
        let x = rng.random::<f64>();
        let mut acc = 0.0;
        for language in [Language::English, Language::European, Language::Chinese, Language::Japanese] {
            acc += Corpus::share(language);
            if x < acc {
                return language;
            }
        }
        Language::Mixed
    }

    /// One message: 3 to 30 words (about 12 on average), with a capital and punctuation now
    /// and then, so the server's folding has work to do.
    pub fn message(&self, rng: &mut impl Rng) -> String {
        let words = 3 + (rng.random::<f64>().powi(2) * 28.0) as usize;
        let mut out = String::with_capacity(words * 7);
        let language = Corpus::language(rng);
        match language {
            Language::English | Language::Mixed => {
                let mixed = language == Language::Mixed;
                let phrase = rng.random_bool(0.025).then(|| (rng.random_range(0..words), pick(rng, PHRASES)));
                for i in 0..words {
                    if i > 0 {
                        out.push(if rng.random_bool(0.06) { ',' } else { ' ' });
                        if out.ends_with(',') {
                            out.push(' ');
                        }
                    }
                    match phrase {
                        Some((at, phrase)) if at == i => out.push_str(phrase),
                        _ if mixed && i % 4 == 3 => out.push_str(self.chinese.word(rng)),
                        _ => {
                            let word = self.english.word(rng);
                            if i == 0 {
                                let mut chars = word.chars();
                                out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                                out.push_str(chars.as_str());
                            } else {
                                out.push_str(word);
                            }
                        }
                    }
                }
                out.push(pick(rng, &['.', '!', '?', '.']));
            }
            Language::European => {
                for i in 0..words {
                    if i > 0 {
                        out.push(' ');
                    }
                    let word = self.european.word(rng);
                    // Some words in capitals: CAFÉ must be found by cafe.
                    if rng.random_bool(0.03) { out.push_str(&word.to_uppercase()) } else { out.push_str(word) }
                }
                out.push('.');
            }
            Language::Chinese => {
                for i in 0..words {
                    if i > 0 && rng.random_bool(0.15) {
                        out.push('，');
                    }
                    out.push_str(self.chinese.word(rng));
                }
                out.push('。');
            }
            Language::Japanese => {
                for i in 0..words.min(15) {
                    if i > 0 && rng.random_bool(0.1) {
                        out.push('、');
                    }
                    out.push_str(self.japanese.word(rng));
                }
                out.push('。');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_ranks_follow_one_over_rank() {
        let corpus = Corpus::new(7);
        assert_eq!(corpus.english.words.len(), 30_000);
        assert_eq!(corpus.english.words[0], "the");
        let mut rng = StdRng::seed_from_u64(1);
        let n = 200_000;
        let mut counts = [0u32; 3];
        for _ in 0..n {
            let r = corpus.english.rank(&mut rng);
            if r < 3 {
                counts[r] += 1;
            }
        }
        // Rank 1 about half as often as rank 0, rank 2 a third.
        let ratio = |a: u32, b: u32| f64::from(a) / f64::from(b);
        assert!((1.8..2.2).contains(&ratio(counts[0], counts[1])), "{counts:?}");
        assert!((2.7..3.3).contains(&ratio(counts[0], counts[2])), "{counts:?}");
        let expected = corpus.english.share(0) * n as f64;
        assert!((f64::from(counts[0]) - expected).abs() < expected * 0.05, "{counts:?} vs {expected}");
    }

    #[test]
    fn messages_hold_every_language() {
        let corpus = Corpus::new(7);
        let mut rng = StdRng::seed_from_u64(2);
        let messages: Vec<String> = (0..2000).map(|_| corpus.message(&mut rng)).collect();
        assert!(messages.iter().any(|m| m.contains("the ")));
        assert!(messages.iter().any(|m| m.chars().any(|c| "éüñçß".contains(c))));
        assert!(
            messages.iter().any(|m| m.ends_with('。') && m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
        );
        assert!(messages.iter().any(|m| m.chars().any(|c| ('\u{30a0}'..='\u{30ff}').contains(&c))));
        assert!(messages.iter().any(|m| PHRASES.iter().any(|p| m.contains(p))));
        let same: Vec<String> = {
            let mut rng = StdRng::seed_from_u64(2);
            (0..5).map(|_| corpus.message(&mut rng)).collect()
        };
        assert_eq!(same, messages[..5], "the seed makes the corpus");
    }
}
