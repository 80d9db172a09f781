// Readers of the downstream tasks' public sources (downstream/tasks.h), each turning its source's
// own format into source units: one example each, with the key that identifies the unit (the
// normalised sentence, the synset, the word). Keys are unique, so splitting units never puts a
// sentence, synset or word in two splits. Every reader checks the source's version and records its
// files (bytes, CRC-32), licence and what it dropped, for the task's manifest.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "downstream/tasks.h"

namespace t5 {

struct SourceUnit {
  std::string key;
  TaskExample example;
};

struct TaskSource {
  std::vector<SourceUnit> units;   // in source order; keys unique
  nlohmann::json provenance;       // the manifest's "source" block
};

// npm sentiment@5.0.2, PACKAGE = NPM_DIR/sentiment_5.0.2/package: test/fixtures/{amazon,imdb,yelp}.json,
// [{"text": "...", "class": 0 | 1}, ..., {"text": "", "class": null}]. Whitespace runs become one space
// and the ends are trimmed; the empty entry is dropped; a sentence seen more than once is kept once
// (dropped altogether if its copies disagree on the label).
TaskSource read_sentiment_source(const std::string& package_dir);

// WordNet 3.0 data.{noun,verb,adj,adv} in DIR: one synset a line, `offset lex_filenum ss_type ... | gloss`.
// The input is the gloss's definition: the example sentences after it (`; "..."`) are cut off. Synsets
// whose definition is also another synset's are dropped (the same input would need two answers, or
// would stand in two splits).
TaskSource read_supersense_source(const std::string& wordnet_dir);

// npm cmu-pronouncing-dictionary@3.0.0, PACKAGE = NPM_DIR/cmu-pronouncing-dictionary_3.0.0/package:
// index.js, one `  "word": "PH ON EMES",` a line. The first pronunciation of each word is kept (the
// variants `word(2)`, `word(3)` are dropped) and CMUdict's trailing comments (`# place, dutch`) removed.
TaskSource read_g2p_source(const std::string& package_dir);

// The 45 lexicographer file names of WordNet 3.0 (lexnames(5WN)), by number.
const std::vector<std::string>& wordnet_lexicographer_files();

}  // namespace t5
