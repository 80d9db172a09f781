// The three sources' formats (see task_sources.h for what each reader keeps and drops, and README's
// "Downstream tasks" for provenance and licences).
#include "downstream/task_sources.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "core/json_file.h"
#include "downstream/metrics.h"

namespace t5 {
namespace {

struct SourceFile {
  std::string path;   // as read
  std::string name;   // as the manifest records it (relative to the package or data directory)
  std::string bytes;
};

SourceFile read_source_file(const std::string& dir, const std::string& name, const std::string& hint) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path, std::ios::binary);
  T5_CHECK_HINT(in.good(), hint, "{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return {path, name, ss.str()};
}

nlohmann::json file_record(const SourceFile& f) {
  return {{"path", f.name}, {"bytes", f.bytes.size()}, {"crc32", crc32_of(f.bytes)}};
}

// Runs of ASCII whitespace become one space; the ends are trimmed.
std::string collapse_whitespace(std::string_view text) {
  std::string out;
  for (const std::string& token : whitespace_tokens(text)) out += (out.empty() ? "" : " ") + token;
  return out;
}

// Checks package/package.json's name and version: a cache filled from another version must not pass.
void check_npm_package(const std::string& package_dir, const std::string& name, const std::string& version) {
  const std::string hint = fmt::format("t5scale data prepare fetches {}@{} with npm pack", name, version);
  const SourceFile f = read_source_file(package_dir, "package.json", hint);
  const nlohmann::json j = parse_json_text(f.bytes, f.path);
  T5_CHECK_HINT(j.is_object() && j.value("name", "") == name && j.value("version", "") == version, hint,
                "{}: expected npm package {}@{}, found {}@{}", f.path, name, version,
                j.is_object() ? j.value("name", "?") : "?", j.is_object() ? j.value("version", "?") : "?");
}

}  // namespace

const std::vector<std::string>& wordnet_lexicographer_files() {
  static const std::vector<std::string> names = {
      "adj.all",          "adj.pert",          "adv.all",            "noun.Tops",         "noun.act",
      "noun.animal",      "noun.artifact",     "noun.attribute",     "noun.body",         "noun.cognition",
      "noun.communication", "noun.event",      "noun.feeling",       "noun.food",         "noun.group",
      "noun.location",    "noun.motive",       "noun.object",        "noun.person",       "noun.phenomenon",
      "noun.plant",       "noun.possession",   "noun.process",       "noun.quantity",     "noun.relation",
      "noun.shape",       "noun.state",        "noun.substance",     "noun.time",         "verb.body",
      "verb.change",      "verb.cognition",    "verb.communication", "verb.competition",  "verb.consumption",
      "verb.contact",     "verb.creation",     "verb.emotion",       "verb.motion",       "verb.perception",
      "verb.possession",  "verb.social",       "verb.stative",       "verb.weather",      "adj.ppl"};
  return names;
}

// --- sentiment --------------------------------------------------------------------------------------

TaskSource read_sentiment_source(const std::string& package_dir) {
  check_npm_package(package_dir, "sentiment", "5.0.2");
  const std::string prefix = task_prefix("sentiment");
  struct Seen {
    int label;
    bool conflicting;
    size_t order;
  };
  std::map<std::string, Seen> sentences;   // normalised text -> its label
  std::vector<std::string> order;          // first occurrences, in source order
  nlohmann::json files = nlohmann::json::array();
  int64_t entries = 0, empty = 0, duplicates = 0;
  for (const char* name : {"amazon", "imdb", "yelp"}) {
    const SourceFile f = read_source_file(package_dir, fmt::format("test/fixtures/{}.json", name),
                                          "t5scale data prepare fetches sentiment@5.0.2 with npm pack");
    files.push_back(file_record(f));
    const nlohmann::json list = parse_json_text(f.bytes, f.path);
    T5_CHECK(list.is_array(), "{}: expected a JSON array of {{\"text\", \"class\"}}", f.path);
    for (size_t i = 0; i < list.size(); ++i) {
      const nlohmann::json& e = list[i];
      T5_CHECK(e.is_object() && e.contains("text") && e["text"].is_string() && e.contains("class"),
               "{}: entry {}: expected {{\"text\": string, \"class\": 0, 1 or null}}", f.path, i);
      ++entries;
      const std::string text = collapse_whitespace(e["text"].get<std::string>());
      const nlohmann::json& label = e["class"];
      if (text.empty() && label.is_null()) {
        ++empty;
        continue;
      }
      T5_CHECK(!text.empty() && label.is_number_integer() && (label.get<int>() == 0 || label.get<int>() == 1),
               "{}: entry {}: expected a sentence with class 0 or 1", f.path, i);
      auto [it, inserted] = sentences.try_emplace(text, Seen{label.get<int>(), false, order.size()});
      if (inserted) {
        order.push_back(text);
      } else {
        ++duplicates;
        it->second.conflicting |= it->second.label != label.get<int>();
      }
    }
  }
  TaskSource source;
  int64_t conflicting = 0;
  for (const std::string& text : order) {
    const Seen& seen = sentences.at(text);
    if (seen.conflicting) {
      ++conflicting;
      continue;
    }
    source.units.push_back({text, {prefix + text, seen.label == 1 ? "positive" : "negative"}});
  }
  source.provenance = {
      {"name", "UCI Sentiment Labelled Sentences (amazon, imdb, yelp)"},
      {"package", "npm sentiment@5.0.2, test/fixtures/*.json"},
      {"citation", "Kotzias, Denil, de Freitas and Smyth, 'From Group to Individual Labels using Deep Features', "
                   "KDD 2015"},
      {"licence", "data: CC BY 4.0 (UCI Machine Learning Repository); npm package: MIT, (c) 2016 Andrew Sliwinski"},
      {"files", files},
      {"entries", entries},
      {"dropped", {{"empty", empty}, {"repeated_sentences", duplicates}, {"sentences_with_conflicting_labels", conflicting}}},
      {"units", source.units.size()},
      {"unit", "sentence (whitespace runs collapsed, ends trimmed; each distinct sentence once)"}};
  return source;
}

// --- supersense -------------------------------------------------------------------------------------

namespace {

// The definition part of a WordNet gloss: the text before the first example sentence (`; "` or `: "`),
// without a trailing ';' or ':'. A gloss that is only examples is kept whole.
std::string gloss_definition(std::string_view gloss) {
  size_t cut = gloss.size();
  for (const std::string_view marker : {std::string_view("; \""), std::string_view(": \"")})
    cut = std::min(cut, gloss.find(marker));
  std::string_view definition = trim_ascii_whitespace(gloss.substr(0, cut));
  while (!definition.empty() && (definition.back() == ';' || definition.back() == ':'))
    definition = trim_ascii_whitespace(definition.substr(0, definition.size() - 1));
  if (definition.empty()) definition = gloss;
  return collapse_whitespace(definition);
}

// Lexicographer file numbers each data file may carry (lexnames(5WN)).
bool lexfile_fits(const std::string& pos, int lexfile) {
  if (pos == "noun") return lexfile >= 3 && lexfile <= 28;
  if (pos == "verb") return lexfile >= 29 && lexfile <= 43;
  if (pos == "adj") return lexfile == 0 || lexfile == 1 || lexfile == 44;
  return lexfile == 2;   // adv
}

constexpr std::string_view kWordNetCopyright = "WordNet 3.0 Copyright 2006 by Princeton University.";

}  // namespace

TaskSource read_supersense_source(const std::string& wordnet_dir) {
  const std::string hint = "install Debian's wordnet-base (scripts/bootstrap.sh), or give --wordnet DIR";
  const std::string prefix = task_prefix("supersense");
  const auto& lexnames = wordnet_lexicographer_files();
  struct Synset {
    std::string key, definition;
    int lexfile;
  };
  std::vector<Synset> synsets;
  std::map<std::string, int> definition_count;
  nlohmann::json files = nlohmann::json::array();
  std::string licence;
  for (const std::string pos : {"noun", "verb", "adj", "adv"}) {
    const SourceFile f = read_source_file(wordnet_dir, "data." + pos, hint);
    files.push_back(file_record(f));
    std::istringstream in(f.bytes);
    std::string line, header;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.rfind("  ", 0) == 0) {   // the licence header: "  N text  "
        std::istringstream words(line);
        std::string number;
        words >> number;
        std::string text;
        std::getline(words, text);
        header += std::string(trim_ascii_whitespace(text)) + "\n";
        continue;
      }
      const size_t bar = line.find(" | ");
      std::istringstream fields(line.substr(0, bar));
      std::string offset, ss_type;
      int lexfile = -1;
      fields >> offset >> lexfile >> ss_type;
      T5_CHECK(bar != std::string::npos && fields && offset.size() == 8 &&
                   offset.find_first_not_of("0123456789") == std::string::npos && lexfile >= 0 &&
                   lexfile < int(lexnames.size()) && lexfile_fits(pos, lexfile),
               "{}:{}: expected a WordNet synset line 'offset lex_filenum ss_type ... | gloss' with a {} "
               "lexicographer file", f.path, line_no, pos);
      const std::string definition = gloss_definition(std::string_view(line).substr(bar + 3));
      T5_CHECK(!definition.empty(), "{}:{}: empty gloss", f.path, line_no);
      synsets.push_back({pos.substr(0, 1) + offset, definition, lexfile});
      ++definition_count[definition];
    }
    T5_CHECK_HINT(header.find(kWordNetCopyright) != std::string::npos, hint,
                  "{}: not WordNet 3.0 (its header lacks '{}')", f.path, kWordNetCopyright);
    if (licence.empty()) licence = header;
  }
  TaskSource source;
  int64_t shared = 0;
  for (const Synset& s : synsets) {
    if (definition_count.at(s.definition) > 1) {
      ++shared;
      continue;
    }
    source.units.push_back({s.key, {prefix + s.definition, lexnames[size_t(s.lexfile)]}});
  }
  source.provenance = {
      {"name", "WordNet 3.0 synsets: gloss -> lexicographer file (supersense)"},
      {"package", "Debian wordnet-base (WordNet 3.0), /usr/share/wordnet/data.{noun,verb,adj,adv}"},
      {"citation", "Miller, 'WordNet: A Lexical Database for English', CACM 1995; Fellbaum (ed.), 'WordNet: "
                   "An Electronic Lexical Database', MIT Press 1998"},
      {"licence", "WordNet 3.0 licence (BSD-like; the notice below must accompany copies)"},
      {"licence_text", licence},
      {"files", files},
      {"entries", synsets.size()},
      {"dropped", {{"synsets_sharing_their_definition", shared}}},
      {"units", source.units.size()},
      {"unit", "synset (input: the gloss's definition, example sentences cut off)"},
      {"classes", lexnames.size()}};
  return source;
}

// --- g2p --------------------------------------------------------------------------------------------

namespace {

// A word of the dictionary we keep: lower-case letters with apostrophes, periods and hyphens.
bool plain_word(const std::string& word) {
  bool letter = false;
  for (char c : word) {
    if (c >= 'a' && c <= 'z') letter = true;
    else if (c != '\'' && c != '.' && c != '-') return false;
  }
  return letter;
}

// An ARPAbet phoneme as CMUdict writes it: one or two capitals, then a stress digit on vowels.
bool arpabet_phoneme(const std::string& p) {
  size_t letters = 0;
  while (letters < p.size() && p[letters] >= 'A' && p[letters] <= 'Z') ++letters;
  if (letters < 1 || letters > 2) return false;
  return p.size() == letters || (p.size() == letters + 1 && p[letters] >= '0' && p[letters] <= '2');
}

}  // namespace

TaskSource read_g2p_source(const std::string& package_dir) {
  check_npm_package(package_dir, "cmu-pronouncing-dictionary", "3.0.0");
  const std::string prefix = task_prefix("g2p");
  const SourceFile f = read_source_file(package_dir, "index.js",
                                        "t5scale data prepare fetches cmu-pronouncing-dictionary@3.0.0 with npm pack");
  std::istringstream in(f.bytes);
  std::set<std::string> seen;
  TaskSource source;
  int64_t entries = 0, variants = 0, other_words = 0, comments = 0;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "}" || line.rfind("/**", 0) == 0 || line.rfind("export const dictionary", 0) == 0)
      continue;
    // `  "word": "PH ON EMES",` (no comma on the last entry); no escapes occur in this file.
    const size_t colon = line.find("\": \"");
    const bool shape = line.rfind("  \"", 0) == 0 && colon != std::string::npos &&
                       line.find('\\') == std::string::npos &&
                       (line.ends_with("\",") || line.ends_with("\""));
    T5_CHECK(shape, "{}:{}: expected '  \"word\": \"PHONEMES\",'", f.path, line_no);
    const std::string word = line.substr(3, colon - 3);
    std::string value = line.substr(colon + 4, line.size() - (line.ends_with(",") ? 2 : 1) - (colon + 4));
    T5_CHECK(word.find('"') == std::string::npos && value.find('"') == std::string::npos,
             "{}:{}: expected '  \"word\": \"PHONEMES\",'", f.path, line_no);
    ++entries;
    T5_CHECK(seen.insert(word).second, "{}:{}: '{}' appears twice", f.path, line_no, word);
    if (const size_t hash = value.find('#'); hash != std::string::npos) {
      value = value.substr(0, hash);
      ++comments;
    }
    const std::vector<std::string> phonemes = whitespace_tokens(value);
    T5_CHECK(!phonemes.empty(), "{}:{}: '{}' has no phonemes", f.path, line_no, word);
    for (const std::string& p : phonemes)
      T5_CHECK(arpabet_phoneme(p), "{}:{}: '{}' is not an ARPAbet phoneme", f.path, line_no, p);
    if (word.ends_with(")") && word.find('(') != std::string::npos) {
      ++variants;   // word(2), word(3): a second pronunciation
      continue;
    }
    if (!plain_word(word)) {
      ++other_words;
      continue;
    }
    std::string targets;
    for (const std::string& p : phonemes) targets += (targets.empty() ? "" : " ") + p;
    source.units.push_back({word, {prefix + word, targets}});
  }
  T5_CHECK(entries > 0, "{}: no dictionary entries", f.path);
  source.provenance = {
      {"name", "The CMU Pronouncing Dictionary: word -> ARPAbet phonemes (with stress digits)"},
      {"package", "npm cmu-pronouncing-dictionary@3.0.0, index.js (crawled from cmusphinx/cmudict)"},
      {"citation", "The Carnegie Mellon Pronouncing Dictionary, http://www.speech.cs.cmu.edu/cgi-bin/cmudict"},
      {"licence", "CMUdict: Simplified (2-clause) BSD, Copyright (C) 1993-2015 Carnegie Mellon University; "
                  "npm package: ISC, (c) 2015 Zeke Sikelianos"},
      {"files", nlohmann::json::array({file_record(f)})},
      {"entries", entries},
      {"dropped", {{"alternative_pronunciations", variants}, {"words_not_plain", other_words}}},
      {"comments_removed", comments},
      {"units", source.units.size()},
      {"unit", "word (its first pronunciation)"}};
  return source;
}

}  // namespace t5
