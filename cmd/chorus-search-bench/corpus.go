package main

import (
	"math"
	"math/rand/v2"
	"strings"
)

// The corpus: synthetic chat messages in English, Chinese, Japanese and Korean whose word and
// character frequencies are Zipf-like, as natural text is, so that the index sees a few very
// common terms, a long tail of rare ones, and CJK pairs that recur because words recur.

// commonEnglish are real frequent English words, the head of the English vocabulary.
var commonEnglish = strings.Fields(`the be to of and a in that have i it for not on with he as you do at
this but his by from they we say her she or an will my one all would there their what so up out if
about who get which go me when make can like time no just him know take people into year your good
some could them see other than then now look only come its over think also back after use two how
our work first well way even new want because any these give day most us is was are been has had
were said did got made went thanks thank ok okay yes lol please sorry meeting tomorrow today tonight
deploy release build test bug fix issue server database query index search message room chat team
project deadline review merge branch commit push pull request api client login password account
coffee lunch dinner weekend monday friday morning afternoon evening week month call email link file
image video photo doc sheet slide plan idea question answer problem solution update status ready
done later soon maybe sure great nice cool awesome cool right left next last long short big small
happy sad funny weird crazy interesting important urgent quick slow fast easy hard simple`)

// syllables build the long tail of English-looking words.
var (
	onsets = strings.Fields("b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr bl cl fl gl pl sl st sp sk sc sh ch th wh qu")
	vowels = strings.Fields("a e i o u ai ea ee oo ou io ia")
	codas  = strings.Fields("_ _ _ n r s t l m nd nt st ck ng rd rk ll ss x")
)

// Particles of Japanese and Korean that glue their words together.
var (
	jaParticles = strings.Fields("は が の に を で と も へ から まで です ます でした ました ません よ ね か な")
	koParticles = strings.Fields("은 는 이 가 을 를 에 의 도 에서 으로 와 과 입니다 해요 했어요 있어요 없어요")
)

// corpus draws message texts. It is deterministic for a given seed.
type corpus struct {
	rng *rand.Rand

	english     []string
	englishZipf *rand.Zipf
	zhWords     []string
	zhZipf      *rand.Zipf
	jaKana      []string // katakana loanwords
	jaKanaZipf  *rand.Zipf
	koWords     []string
	koZipf      *rand.Zipf
}

func newCorpus(seed uint64) *corpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &corpus{rng: rng}

	seen := map[string]bool{}
	for _, w := range commonEnglish {
		if !seen[w] {
			seen[w] = true
			c.english = append(c.english, w)
		}
	}
	for len(c.english) < 30000 {
		var b strings.Builder
		for n := 1 + rng.IntN(3); n > 0; n-- {
			b.WriteString(onsets[rng.IntN(len(onsets))])
			b.WriteString(vowels[rng.IntN(len(vowels))])
		}
		if cd := codas[rng.IntN(len(codas))]; cd != "_" {
			b.WriteString(cd)
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			c.english = append(c.english, w)
		}
	}
	c.englishZipf = rand.NewZipf(rng, 1.07, 2, uint64(len(c.english)-1))

	// 3,500 Han characters (about what a literate reader knows), used with Zipf frequencies,
	// make a lexicon of 40,000 words of one to four characters.
	hanZipf, han := charZipf(rng, 0x4E00, 0x9FA5, 3500, 1.0, 8)
	c.zhWords = lexicon(rng, 40000, []int{15, 65, 12, 8}, func() rune { return han[hanZipf.Uint64()] })
	c.zhZipf = rand.NewZipf(rng, 1.05, 4, uint64(len(c.zhWords)-1))

	kataZipf, kata := charZipf(rng, 0x30A1, 0x30F6, 86, 0.7, 2)
	c.jaKana = lexicon(rng, 8000, []int{0, 20, 35, 30, 15}, func() rune { return kata[kataZipf.Uint64()] })
	c.jaKanaZipf = rand.NewZipf(rng, 1.05, 4, uint64(len(c.jaKana)-1))

	hangulZipf, hangul := charZipf(rng, 0xAC00, 0xD7A3, 1800, 1.0, 6)
	c.koWords = lexicon(rng, 30000, []int{10, 55, 25, 10}, func() rune { return hangul[hangulZipf.Uint64()] })
	c.koZipf = rand.NewZipf(rng, 1.05, 4, uint64(len(c.koWords)-1))
	return c
}

// charZipf picks n distinct characters of [lo, hi] and a Zipf distribution over them.
func charZipf(rng *rand.Rand, lo, hi rune, n int, s, v float64) (*rand.Zipf, []rune) {
	perm := rng.Perm(int(hi - lo + 1))
	chars := make([]rune, n)
	for i := range chars {
		chars[i] = lo + rune(perm[i])
	}
	if s <= 1 {
		s = 1.0001 // rand.Zipf needs s > 1
	}
	return rand.NewZipf(rng, s, v, uint64(n-1)), chars
}

// lexicon makes n distinct words whose lengths (1, 2, … characters) follow the given weights.
func lexicon(rng *rand.Rand, n int, lengthWeights []int, char func() rune) []string {
	total := 0
	for _, w := range lengthWeights {
		total += w
	}
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for tries := 0; len(out) < n && tries < 50*n; tries++ {
		x, length := rng.IntN(total), 0
		for i, w := range lengthWeights {
			if x < w {
				length = i + 1
				break
			}
			x -= w
		}
		var b strings.Builder
		for range length {
			b.WriteRune(char())
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// logNormal draws a length with the given median, at least 1 and at most hi.
func (c *corpus) logNormal(median, sigma float64, hi int) int {
	n := int(math.Round(median * math.Exp(sigma*c.rng.NormFloat64())))
	return min(max(n, 1), hi)
}

// language of a message.
type language int

const (
	english language = iota
	chinese
	japanese
	korean
)

func (l language) String() string { return [...]string{"en", "zh", "ja", "ko"}[l] }

// message draws a message text: half English, a quarter Chinese, Japanese and Korean for the
// rest; some CJK messages mention an English word, as chat does.
func (c *corpus) message() (string, language) {
	switch x := c.rng.IntN(100); {
	case x < 50:
		return c.englishText(c.logNormal(9, 0.8, 300)), english
	case x < 75:
		return c.chineseText(c.logNormal(14, 0.8, 800)), chinese
	case x < 90:
		return c.japaneseText(c.logNormal(8, 0.7, 300)), japanese
	default:
		return c.koreanText(c.logNormal(6, 0.7, 300)), korean
	}
}

func (c *corpus) englishWord() string { return c.english[c.englishZipf.Uint64()] }

func (c *corpus) englishText(words int) string {
	var b strings.Builder
	for i := range words {
		w := c.englishWord()
		if i == 0 && c.rng.IntN(3) == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if i == words-1 || c.rng.IntN(12) == 0 {
			b.WriteString([]string{".", ",", "!", "?", "", ""}[c.rng.IntN(6)])
		}
	}
	return b.String()
}

// chineseText is about chars characters of Chinese.
func (c *corpus) chineseText(chars int) string {
	var b strings.Builder
	n := 0
	for n < chars {
		if c.rng.IntN(40) == 0 {
			b.WriteString(" " + c.englishWord() + " ")
		}
		w := c.zhWords[c.zhZipf.Uint64()]
		b.WriteString(w)
		n += len([]rune(w))
		if c.rng.IntN(8) == 0 {
			b.WriteString([]string{"，", "。", "！", "？"}[c.rng.IntN(4)])
		}
	}
	return b.String()
}

// japaneseText is about phrases phrases: a kanji word or a katakana word, then a particle.
func (c *corpus) japaneseText(phrases int) string {
	var b strings.Builder
	for i := range phrases {
		if c.rng.IntN(3) == 0 {
			b.WriteString(c.jaKana[c.jaKanaZipf.Uint64()])
		} else {
			b.WriteString(c.zhWords[c.zhZipf.Uint64()])
		}
		b.WriteString(jaParticles[c.rng.IntN(len(jaParticles))])
		if i == phrases-1 || c.rng.IntN(6) == 0 {
			b.WriteString("。")
		}
	}
	return b.String()
}

// koreanText is words words, each with a particle now and then, separated by spaces.
func (c *corpus) koreanText(words int) string {
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.koWords[c.koZipf.Uint64()])
		if c.rng.IntN(2) == 0 {
			b.WriteString(koParticles[c.rng.IntN(len(koParticles))])
		}
	}
	b.WriteString(".")
	return b.String()
}
