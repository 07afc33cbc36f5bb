// Highlighting a search's terms in a result, the way the search index matches them
// (projections/search/tokenize.go): text is compared after NFKC and lower-casing; a query splits
// into words (letters, digits, marks) and runs of Chinese, Japanese or Korean characters; a word
// matches a whole word of the text, a CJK run any place it occurs, inside longer CJK text too.
// The result is text nodes and <mark> elements: never markup made from the text.
import { el } from './api.js';

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー〆]/u;
const WORD = /[\p{L}\p{Nd}\p{Mn}\p{Mc}]/u;

const isCJK = (c) => c !== undefined && CJK.test(c);
const isWord = (c) => c !== undefined && WORD.test(c) && !CJK.test(c);

// terms splits a query as the index does: [{cjk, chars}], without repeats.
export function terms(query) {
  const out = [];
  const seen = new Set();
  let cur = [];
  let cjk = false;
  const flush = () => {
    const key = cur.join('');
    if (cur.length && !seen.has(key)) {
      seen.add(key);
      out.push({ cjk, chars: cur });
    }
    cur = [];
  };
  for (const c of String(query).normalize('NFKC').toLowerCase()) {
    const kind = isCJK(c) ? 'cjk' : isWord(c) ? 'word' : null;
    if (!kind) { flush(); continue; }
    if (cur.length && (kind === 'cjk') !== cjk) flush();
    cjk = kind === 'cjk';
    cur.push(c);
  }
  flush();
  return out;
}

// ranges are the [start, end) UTF-16 offsets of text that match one of query's terms, merged.
export function ranges(text, query) {
  const ts = terms(query);
  // the text's characters, each normalised on its own and remembering where it came from
  const chars = [];
  const from = [];
  let i = 0;
  for (const ch of text) {
    for (const n of ch.normalize('NFKC').toLowerCase()) {
      chars.push(n);
      from.push([i, i + ch.length]);
    }
    i += ch.length;
  }
  const marked = new Uint8Array(text.length);
  for (const t of ts) {
    const n = t.chars.length;
    for (let s = 0; s + n <= chars.length; s++) {
      let k = 0;
      while (k < n && chars[s + k] === t.chars[k]) k++;
      if (k < n) continue;
      if (!t.cjk && (isWord(chars[s - 1]) || isWord(chars[s + n]))) continue;
      marked.fill(1, from[s][0], from[s + n - 1][1]);
    }
  }
  const out = [];
  for (let k = 0; k < text.length; k++) {
    if (!marked[k]) continue;
    if (out.length && out[out.length - 1][1] === k) out[out.length - 1][1] = k + 1;
    else out.push([k, k + 1]);
  }
  return out;
}

// highlight is text as nodes, the parts that match query in <mark> elements.
export function highlight(text, query) {
  const out = [];
  let at = 0;
  for (const [s, e] of ranges(text, query)) {
    if (s > at) out.push(document.createTextNode(text.slice(at, s)));
    out.push(el('mark', {}, text.slice(s, e)));
    at = e;
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}
