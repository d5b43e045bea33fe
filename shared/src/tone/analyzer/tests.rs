use super::weights::{HIGH_THRESHOLD, MEDIUM_THRESHOLD};
use super::*;
use crate::tone::analysis::{ConflictLevel, IndicatorKind};

use ConflictLevel::{High, Low, Medium};
use IndicatorKind::*;

fn found(text: &str, kind: IndicatorKind) -> Vec<String> {
    analyze(text).indicators.into_iter().filter(|i| i.kind == kind).map(|i| i.text).collect()
}

fn has(text: &str, kind: IndicatorKind) -> bool {
    !found(text, kind).is_empty()
}

fn level_of(text: &str) -> ConflictLevel {
    analyze(text).conflict_level
}

/// Invariants that hold for every input.
fn check(text: &str) -> Analysis {
    let a = analyze(text);
    let chars: Vec<char> = text.chars().collect();
    assert_eq!(a.is_hostile, a.conflict_level == High, "{text:?}");
    assert_eq!(a.conflict_level, level(a.score), "{text:?}");
    assert_eq!(a.neutral_rewrite.is_some(), a.conflict_level != Low, "{text:?}");
    for i in &a.indicators {
        assert!(i.span[0] < i.span[1] && i.span[1] <= chars.len(), "{text:?}: {i:?}");
        assert_eq!(chars[i.span[0]..i.span[1]].iter().collect::<String>(), i.text, "{text:?}");
    }
    if let Some(rewrite) = &a.neutral_rewrite {
        assert_eq!(level_of(rewrite), Low, "{text:?} → {rewrite:?}");
    }
    a
}

#[test]
fn thresholds_are_as_documented() {
    assert_eq!((MEDIUM_THRESHOLD, HIGH_THRESHOLD), (4, 8));
    assert_eq!(level(0), Low);
    assert_eq!(level(3), Low);
    assert_eq!(level(4), Medium);
    assert_eq!(level(7), Medium);
    assert_eq!(level(8), High);
    assert_eq!(level(u32::MAX), High);
}

#[test]
fn profanity_is_found_through_obfuscation() {
    for (text, word) in [
        ("what the f*ck", "f*ck"),
        ("what the f**k", "f**k"),
        ("this is sh1t", "sh1t"),
        ("kick his a$$", "a$$"),
        ("that's bullsh!t", "bullsh!t"),
        ("what the fuuuuck", "fuuuuck"),
        ("oh s h i t", "s h i t"),
        ("f.u.c.k this", "f.u.c.k"),
        ("f u c k this", "f u c k"),
        ("FuCk this", "FuCk"),
        ("this is bull shit", "bull shit"),
        ("this is $hit", "$hit"),
        ("what the fück", "fück"),
        ("what the f\u{200B}uck", "f\u{200B}uck"),
        ("what the ｆｕｃｋ", "ｆｕｃｋ"),
    ] {
        assert_eq!(found(text, Profanity), vec![word.to_owned()], "{text:?}");
    }
}

#[test]
fn insults_are_found_through_obfuscation() {
    for (text, expected) in [
        ("you are stuuupid", "you are stuuupid"),
        ("you idiooot", "you idiooot"),
        ("you are s t u p i d", "you are s t u p i d"),
        ("you i.d.i.o.t", "you i.d.i.o.t"),
        ("you 1d10t", "you 1d10t"),
        ("you l0s3r", "you l0s3r"),
        ("you're a m0r0n", "you're a m0r0n"),
        ("you st*pid cow", "you st*pid"),
        ("you IDIOT", "you IDIOT"),
        ("you're an \u{0456}d\u{0456}\u{043E}t", "you're an \u{0456}d\u{0456}\u{043E}t"),
        ("you're an a-hole", "you're an a-hole"),
        ("ur a dumb ass", "ur a dumb ass"),
    ] {
        assert_eq!(found(text, NameCalling), vec![expected.to_owned()], "{text:?}");
        assert_eq!(level_of(text), High, "{text:?}");
    }
}

#[test]
fn spans_count_chars_not_bytes() {
    let a = check("😀 Ça va? you’re an idiot!!!");
    let name_calling: Vec<_> = a.indicators.iter().filter(|i| i.kind == NameCalling).collect();
    assert_eq!(name_calling.len(), 1);
    assert_eq!(name_calling[0].span, [9, 24]);
    assert_eq!(name_calling[0].text, "you’re an idiot");
    let punctuation: Vec<_> = a.indicators.iter().filter(|i| i.kind == Punctuation).collect();
    assert_eq!(punctuation[0].span, [24, 27]);

    let a = check("שלום. f*ck off");
    let profanity: Vec<_> = a.indicators.iter().filter(|i| i.kind == Profanity).collect();
    assert_eq!(profanity[0].span, [6, 14]);
    assert_eq!(profanity[0].text, "f*ck off");
}

#[test]
fn indicators_are_sorted_by_span() {
    let a = check("You never listen, you idiot!!! Watch your back.");
    let spans: Vec<[usize; 2]> = a.indicators.iter().map(|i| i.span).collect();
    let mut sorted = spans.clone();
    sorted.sort();
    assert_eq!(spans, sorted);
    let kinds: Vec<IndicatorKind> = a.indicators.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, vec![Blame, NameCalling, Punctuation, Threat]);
}

#[test]
fn words_inside_other_words_are_not_profanity() {
    for text in [
        "I grew up near Scunthorpe.",
        "Is Assassin's Creed ok for a 12 year old?",
        "The class assignment is due Friday.",
        "They let us sit in the cockpit!",
        "Dick Van Dyke was in that film.",
        "We read Moby Dick in school.",
        "The assassin was caught.",
        "Please assess the damage.",
        "I'll grab a cocktail after work.",
        "Essex and Middlesex.",
        "Go ask Dick in accounts.",
        "We have a therapist appointment.",
        "A hole in the fence.",
        "Shiitake mushrooms, please.",
    ] {
        let a = check(text);
        assert!(a.indicators.is_empty(), "{text:?}: {:?}", a.indicators);
        assert_eq!(a.conflict_level, Low, "{text:?}");
    }
}

#[test]
fn calm_messages_about_hard_topics_stay_low() {
    for text in [
        "the school called about a fight",
        "my flight was cancelled and I'm upset",
        "he said he'd kill for a coffee",
        "that exam killed me lol",
        "the stupid printer jammed again",
        "How do I kill a process that's stuck?",
        "My mom passed away last night.",
        "I feel like an idiot, I forgot the lunchbox.",
        "My brother called me an idiot today.",
        "It's not your fault the car broke down.",
        "I'm not blaming you.",
        "You always know how to make me laugh, thank you.",
        "Thank you for everything.",
        "Do you always ship with DHL?",
        "You never know with airlines.",
        "Leave now or else we'll miss the bus.",
        "Please don't kill yourself over the report.",
        "You'll pay for this one and I'll get the next.",
        "I'll do whatever you say, you know best.",
        "When I grow up I want to be a pilot.",
        "You are not an idiot, you just made a mistake.",
        "Damn, I missed the bus.",
        "I GOT THE JOB, THANK YOU SO MUCH",
        "Maya lost her first tooth!!!",
    ] {
        assert_eq!(check(text).conflict_level, Low, "{text:?}: {:?}", analyze(text));
    }
}

#[test]
fn an_insult_aimed_at_a_thing_is_reported_but_stays_low() {
    let a = check("the stupid printer jammed again");
    assert_eq!(a.score, 2);
    assert_eq!(found("the stupid printer jammed again", Insult), vec!["stupid".to_owned()]);
    assert_eq!(level_of("this f*cking printer jammed again"), Medium);
    assert_eq!(level_of("your stupid printer jammed again"), Medium);
}

#[test]
fn name_calling_needs_the_reader() {
    for text in [
        "you idiot",
        "You're an idiot.",
        "you moron",
        "You are such a complete idiot",
        "Don't be an idiot.",
        "Stop being so stupid.",
        "How stupid are you?",
        "Idiots like you ruin everything",
        "your an idiot",
        "ur so dumb",
        "Idiot.",
        "Listen, idiot, I need the papers.",
        "Shut the door, stupid bot.",
        "What a liar you are.",
        "Your lawyer is a moron and so are you.",
        "You lazy, worthless clown.",
    ] {
        assert!(has(text, NameCalling), "{text:?}: {:?}", analyze(text).indicators);
        assert_eq!(check(text).conflict_level, High, "{text:?}");
    }
    for text in ["He's an idiot.", "My boss is a moron.", "You are not stupid.", "I told you the stupid printer broke"]
    {
        assert!(!has(text, NameCalling), "{text:?}: {:?}", analyze(text).indicators);
        assert_eq!(check(text).conflict_level, Low, "{text:?}");
    }
    assert!(has("Your lawyer is a moron.", Insult));
    assert_eq!(level_of("Your lawyer is a moron."), Medium);
}

#[test]
fn threats_are_high() {
    for text in [
        "I'll make you regret this",
        "You'll pay for this!",
        "Watch your back.",
        "I will hurt you",
        "Send the money or else.",
        "I know where you live.",
        "Keep ignoring me and see what happens.",
        "You'll never see the kids again.",
        "i'm gonna make you regret it",
        "I will f*cking hurt you",
    ] {
        assert!(has(text, Threat), "{text:?}: {:?}", analyze(text).indicators);
        assert_eq!(check(text).conflict_level, High, "{text:?}");
    }
    for text in ["I would never hurt you.", "I won't hurt you.", "Or else what?", "I'll find you at the gate."] {
        assert!(!has(text, Threat), "{text:?}");
    }
}

#[test]
fn contempt_is_found() {
    assert_eq!(level_of("Pathetic."), High);
    assert_eq!(level_of("You're pathetic."), High);
    assert_eq!(level_of("Whatever you say."), Medium);
    assert_eq!(level_of("As if you'd understand."), Medium);
    assert_eq!(level_of("Sure 🙄"), Medium);
    assert_eq!(level_of("*rolls eyes*"), Medium);
    assert_eq!(level_of("Shut up."), High);
    assert_eq!(level_of("You're being ridiculous."), Medium);
    assert_eq!(level_of("This is ridiculous."), Low);
    assert_eq!(found("Whatever you say.", Contempt), vec!["Whatever you say".to_owned()]);
}

#[test]
fn blame_and_absolutes_are_found() {
    assert_eq!(found("You always forget the bag.", Blame), vec!["You always".to_owned()]);
    assert_eq!(found("You never call.", Blame), vec!["You never".to_owned()]);
    assert_eq!(found("It's your fault we were late.", Blame), vec!["your fault".to_owned()]);
    assert_eq!(found("Because of you we were late.", Blame), vec!["Because of you".to_owned()]);
    assert_eq!(found("Why do you always do this?", Blame), vec!["you always".to_owned()]);
    assert_eq!(level_of("You always forget the bag."), Medium);
    assert_eq!(found("You forget everything.", Absolute), vec!["everything".to_owned()]);
    assert_eq!(level_of("Nothing you do is ever right."), Medium);
    assert!(found("I always forget my keys.", Absolute).is_empty());
    assert!(found("You always know what to say, thank you.", Blame).is_empty());
    assert_eq!(level_of("You never listen and you always interrupt."), Medium);
    assert_eq!(level_of("YOU NEVER LISTEN!!!"), High);
}

#[test]
fn shouting_ignores_acronyms_and_codes() {
    for text in [
        "LHR to JFK via DXB, OK?",
        "Flight BA117 LHR-JFK ETA 21:40 OK",
        "Send the PDF ASAP please",
        "I said NOW",
        "NASA and the ESA and the UN",
        "OK",
    ] {
        assert!(!has(text, Shouting), "{text:?}: {:?}", analyze(text).indicators);
    }
    for text in ["WHY WOULD YOU DO THAT", "I AM SO TIRED OF THIS", "STOP. JUST STOP.", "where IS MY REFUND NOW"] {
        assert!(has(text, Shouting), "{text:?}");
        assert_eq!(level_of(text), Medium, "{text:?}");
    }
    assert_eq!(found("ok fine. BUT I AM NOT PAYING FOR THIS", Shouting), vec!["BUT I AM NOT PAYING FOR THIS"]);
}

#[test]
fn punctuation_needs_a_run_of_three() {
    assert_eq!(found("What?!?!", Punctuation), vec!["?!?!".to_owned()]);
    assert_eq!(found("Why???", Punctuation), vec!["???".to_owned()]);
    assert_eq!(found("No way‼!", Punctuation), vec!["‼!".to_owned()]);
    assert!(found("Really?!", Punctuation).is_empty());
    assert!(found("Hi!!", Punctuation).is_empty());
    assert_eq!(level_of("Thanks so much!!!"), Low);
    assert_eq!(level_of("This is ridiculous!!!"), Medium);
}

#[test]
fn rewrites_soften_and_analyse_as_low() {
    let rewrite = |t: &str| check(t).neutral_rewrite.unwrap_or_default();
    assert_eq!(rewrite("You always forget the bag."), "It often feels like you forget the bag.");
    assert_eq!(rewrite("You never call me back!!!"), "It seems you rarely call me back!");
    assert_eq!(rewrite("It's your fault we missed the flight!!!"), "Can we talk about what happened?");
    assert_eq!(rewrite("WHERE IS MY REFUND???"), "Where is my refund?");
    assert_eq!(rewrite("Pay me back by Friday or else."), "Pay me back by Friday.");
    assert_eq!(rewrite("The refund is late, you moron."), "The refund is late.");
    assert_eq!(rewrite("Shut up and send the documents."), "Send the documents.");
    assert_eq!(rewrite("What the f*ck is going on with my order???"), "What is going on with my order?");
    assert_eq!(rewrite("Nothing you suggest ever works."), "Very little you suggest works.");
    assert_eq!(rewrite("Watch your back."), rewrite::FALLBACK);
    assert_eq!(rewrite("You idiot."), rewrite::FALLBACK);
    assert_eq!(check(rewrite::FALLBACK).conflict_level, Low);
    assert_eq!(analyze("Thanks, see you at 5.").neutral_rewrite, None);
}

#[test]
fn odd_input_never_panics() {
    let long = "you idiot!!! ".repeat(2000);
    let inputs = [
        "",
        " ",
        "\n\n\t",
        "😀😀😀",
        "🙄",
        "👍🏽🖕🏿",
        "مرحبا كيف حالك؟ أنت غبي",
        "שלום, מה שלומך?",
        "e\u{301}\u{301}\u{301}",
        "\u{200B}\u{200D}\u{FEFF}",
        "z̷̢̛a̶l̴g̸o̷ ̵t̶e̸x̶t̷ y̷o̷u̷ i̷d̷i̷o̷t̷",
        "!!!???!!!",
        "***",
        "$$$ @@@ ''' ```",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        "f",
        "'",
        "you",
        "İSTANBUL İS GREAT",
        "ß ẞ ﬁ ﬀ",
        "日本語のテキスト、大丈夫？",
        "i.d.i.o.t.s.",
        "you're, a, ... ,,, idiot",
        long.as_str(),
    ];
    for text in inputs {
        check(text);
    }
    assert_eq!(check("").conflict_level, Low);
    assert_eq!(check("😀😀😀").score, 0);
    assert_eq!(check(&long).conflict_level, High);
}

#[test]
fn random_input_never_panics() {
    // A fixed linear congruential generator: the same "random" strings on every run.
    let mut state: u64 = 0x5EED;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let alphabet: Vec<char> =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0134579 .,!?;:'’*$@-_/\n\u{200B}\u{301}😀🙄🖕éßİ"
            .chars()
            .collect();
    let words = ["you", "idiot", "are", "always", "never", "your", "fault", "or", "else", "shut", "up", "f*ck", "LHR"];
    for _ in 0..2000 {
        let len = next() % 40;
        let mut text = String::new();
        for _ in 0..len {
            if next() % 3 == 0 {
                text.push_str(words[next() as usize % words.len()]);
            } else {
                text.push(alphabet[next() as usize % alphabet.len()]);
            }
        }
        check(&text);
        if let Some(c) = char::from_u32(next() % 0x11_0000) {
            check(&format!("{text}{c}{text}"));
        }
    }
}

#[test]
fn analysis_is_deterministic() {
    for text in ["You never listen, you idiot!!!", "WHERE IS MY REFUND???", "calm text"] {
        assert_eq!(analyze(text), analyze(text));
    }
}

#[test]
fn serde_names_are_the_http_api() {
    let json = serde_json::to_value(analyze("you idiot")).unwrap_or_default();
    assert_eq!(json["is_hostile"], true);
    assert_eq!(json["conflict_level"], "high");
    assert_eq!(json["score"], 8);
    assert_eq!(json["indicators"][0]["kind"], "name_calling");
    assert_eq!(json["indicators"][0]["span"], serde_json::json!([0, 9]));
    assert_eq!(json["indicators"][0]["text"], "you idiot");
    assert!(json["neutral_rewrite"].is_string());
    let low = serde_json::to_value(analyze("hello")).unwrap_or_default();
    assert_eq!(low["conflict_level"], "low");
    assert!(low["neutral_rewrite"].is_null());
    let back: Analysis = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, analyze("you idiot"));
}
