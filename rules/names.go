package rules

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/adrg/strutil/metrics"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Name matching for ongoing AML monitoring. The approach follows what the published
// screening engines learned from their users' false positives (moov-io/watchman's
// best-pairs Jaro-Winkler, OpenSanctions' name-part comparison):
//
//   - names are compared token by token, in any order ("LAST, First" and "First Last"
//     are the same name), each token of one name pairing with at most one of the other
//     (a repeated "Vladimir" cannot match twice);
//   - each pair's similarity is weighted by the tokens' lengths, so that short tokens
//     ("Li", "Al") cannot carry a match, and a pair below a floor counts as a mismatch
//     rather than as partial credit ("John Smith" is not "Jane Smith", "Christopher
//     Ross" is not "Christopher Rose");
//   - tokens left unmatched on either side lower the score, less than a mismatch does
//     (a dropped middle name or second surname is common; a one-word entry does not match
//     a longer name);
//   - transliteration variants of one name (Mohammed / Muhammad, Aleksandr / Alexander)
//     share a consonant skeleton, which scores as a strong match for tokens long enough
//     for the skeleton to mean something;
//   - an initial matches the tokens it begins, with less than full credit;
//   - tokens that start with different letters (once spellings are unified, vowels
//     alike) do not match: Jaro-Winkler gives them no prefix bonus, and without it
//     their similarity stays below the floors anyway (Anna is not Hanna).

// Scoring constants; the evaluation set in testdata/ (TestNameMatchingEvaluation) is
// what they were tuned against.
const (
	// initialScore is the similarity of an initial and a token it begins.
	initialScore = 0.9
	// spellingScore is the similarity of two tokens that differ only in spellings that
	// transliterations vary between (y / i, c / k, ph / f, …).
	spellingScore = 0.97
	// lengthPenalty lowers a pair's Jaro-Winkler similarity for each rune of length
	// difference beyond the first.
	lengthPenalty = 0.03
	// skeletonScore is the least similarity of two long tokens with one skeleton.
	skeletonScore = 0.95
	// skeletonMinRunes is the shortest token whose skeleton is trusted.
	skeletonMinRunes = 5
	// floorLong and floorShort are the least Jaro-Winkler similarity a pair of tokens
	// needs to count at all; short is when either token has at most shortRunes runes
	// (Jaro-Winkler's prefix bonus lifts Maria / Mario to 0.92).
	floorLong  = 0.93
	floorShort = 0.93
	shortRunes = 6
	// unmatchedWeight is the share of its length a token weighs that only one of the
	// names has (a dropped middle name, patronymic or second surname). When both names
	// have tokens left over, those disagree and weigh in full (Kim Jong Un / Kim Jong Il).
	unmatchedWeight = 0.15
	// incompleteCap bounds the score of names that share fewer than two tokens when both
	// have two or more, of a one-token name against a longer one, and of names whose
	// only shared tokens are initials.
	incompleteCap = 0.5
)

// foldLetters spells letters that Unicode decomposition leaves alone.
var foldLetters = strings.NewReplacer(
	"ß", "ss", "æ", "ae", "œ", "oe", "ø", "o", "ł", "l", "đ", "d", "ð", "d", "þ", "th", "ı", "i",
)

// dropped are tokens that do not tell people or companies apart: honorifics and legal
// forms. They are dropped unless nothing else is left.
var dropped = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "dr": true, "prof": true, "sir": true,
	"ltd": true, "llc": true, "inc": true, "corp": true, "co": true, "sa": true, "sl": true,
	"gmbh": true, "ag": true, "plc": true, "bv": true, "nv": true, "srl": true, "spa": true,
	"llp": true, "limited": true, "company": true, "corporation": true, "incorporated": true,
}

// particles are name particles, dropped when at least two other tokens remain.
var particles = map[string]bool{
	"al": true, "el": true, "bin": true, "ibn": true, "de": true, "da": true, "del": true,
	"van": true, "von": true, "der": true, "la": true, "le": true, "du": true, "di": true,
	"dos": true, "das": true, "y": true,
}

// NameTokens returns the normalised tokens of a person's or a company's name: case and
// diacritics folded, apostrophes dropped, other punctuation splitting tokens, a
// "LAST, First" form turned into "First LAST", honorifics, legal forms and (in names of
// three tokens or more) particles left out.
func NameTokens(name string) []string {
	folded, _, err := transform.String(transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), name)
	if err != nil {
		folded = name
	}
	folded = foldLetters.Replace(strings.ToLower(folded))
	if parts := strings.Split(folded, ","); len(parts) == 2 {
		folded = parts[1] + " " + parts[0]
	}
	var b strings.Builder
	for _, r := range folded {
		switch {
		case r == '\'' || r == '’' || r == '`' || r == 'ʼ':
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteRune(' ')
		}
	}
	all := strings.Fields(b.String())
	kept := filterTokens(all, func(t string) bool { return !dropped[t] })
	if len(kept) == 0 {
		kept = all
	}
	if core := filterTokens(kept, func(t string) bool { return !particles[t] }); len(core) >= 2 {
		kept = core
	}
	return kept
}

func filterTokens(tokens []string, keep func(string) bool) []string {
	var out []string
	for _, t := range tokens {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// skeletonSpelling maps spellings that transliterations vary between to one form.
var skeletonSpelling = strings.NewReplacer(
	"ph", "f", "v", "f", "w", "f", "ck", "k", "x", "ks", "q", "k", "c", "k", "z", "s", "y", "i", "dj", "j",
)

// skeleton is a token's consonant outline after unifying variant spellings: its
// consonants without doubled letters, a leading vowel as "." (Osama / Usama) and a final
// vowel as it is (Maria is not Mario, Daniela not Daniel).
func skeleton(token string) string {
	t := []rune(skeletonSpelling.Replace(token))
	if n := len(t); n > 1 && t[n-1] == 't' {
		t[n-1] = 'd' // Ahmet / Ahmed, Mehmet / Mehmed
	}
	var b strings.Builder
	for i, r := range t {
		if i > 0 && r == t[i-1] {
			continue // doubled letters, only where they are written together
		}
		vowel := strings.ContainsRune("aeiou", r)
		switch {
		case vowel && i == 0:
			r = '.'
		case vowel && i < len(t)-1:
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nameToken is a normalised token with what comparing it needs, computed once.
type nameToken struct {
	s     string // the token
	key   string // its spelling key (skeletonSpelling applied)
	skel  string // its consonant skeleton
	n     int    // its length in runes
	first rune   // the first rune of its key, vowels as '.'
}

func makeToken(s string) nameToken {
	key := skeletonSpelling.Replace(s)
	first, _ := utf8.DecodeRuneInString(key)
	if strings.ContainsRune("aeiou", first) {
		first = '.'
	}
	return nameToken{s: s, key: key, skel: skeleton(s), n: utf8.RuneCountInString(s), first: first}
}

// PreparedName is a name normalised and tokenised once, for comparing it with many
// others (a rescan compares every entity with every entry).
type PreparedName struct {
	tokens []nameToken
}

// PrepareName normalises and tokenises name (see NameTokens).
func PrepareName(name string) PreparedName {
	raw := NameTokens(name)
	p := PreparedName{tokens: make([]nameToken, len(raw))}
	for i, t := range raw {
		p.tokens[i] = makeToken(t)
	}
	return p
}

// tokenSimilarity scores two normalised tokens in [0, 1]; 0 means they do not match.
func tokenSimilarity(jw *metrics.JaroWinkler, a, b nameToken) float64 {
	if a.s == b.s {
		return 1
	}
	if a.n == 1 || b.n == 1 {
		if (a.n == 1 && strings.HasPrefix(b.s, a.s)) || (b.n == 1 && strings.HasPrefix(a.s, b.s)) {
			return initialScore
		}
		return 0
	}
	if genderVariants(a.s, b.s) || genderVariants(b.s, a.s) {
		return 0
	}
	if a.key == b.key {
		return spellingScore // Yuri / Yury, Eric / Erik, Stephen / Steven
	}
	if a.first != b.first {
		// Tokens that start differently (once spellings are unified) stay below every
		// floor: Jaro-Winkler gives no prefix bonus, and the skeletons differ.
		return 0
	}
	s := jw.Compare(a.s, b.s)
	if d := abs(a.n - b.n); d >= 2 {
		// Jaro-Winkler's prefix bonus rates a long shared start highly however the
		// tokens end: Abramov is not Abramovich, Demir not Demirel.
		s -= lengthPenalty * float64(d-1)
	}
	if a.n >= skeletonMinRunes && b.n >= skeletonMinRunes && a.skel == b.skel {
		s = max(s, skeletonScore)
	}
	floor := floorLong
	if min(a.n, b.n) <= shortRunes {
		floor = floorShort
	}
	if s < floor {
		return 0
	}
	return s
}

// NameSimilarity scores how likely two names name the same person or company, in
// [0, 1]. It is symmetric; 1 means the same tokens.
func NameSimilarity(a, b string) float64 {
	return PrepareName(a).Similarity(PrepareName(b))
}

// Similarity is NameSimilarity of two prepared names.
func (p PreparedName) Similarity(q PreparedName) float64 {
	ta, tb := p.tokens, q.tokens
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	jw := metrics.NewJaroWinkler()
	best := tokensSimilarity(jw, ta, tb)
	// Tokens written together in one name and apart in the other ("Abdulrahman" and
	// "Abdul Rahman"): try joining each adjacent pair of the longer name.
	longer, shorter := ta, tb
	if len(tb) > len(ta) {
		longer, shorter = tb, ta
	}
	if len(longer) > len(shorter) && best < 1 {
		for i := 0; i+1 < len(longer); i++ {
			joined := make([]nameToken, 0, len(longer)-1)
			joined = append(append(append(joined, longer[:i]...), makeToken(longer[i].s+longer[i+1].s)), longer[i+2:]...)
			best = max(best, tokensSimilarity(jw, joined, shorter))
		}
	}
	return best
}

// genderVariants reports whether b is a's feminine form: a with an "a" (Daniel /
// Daniela, Petrov / Petrova), an "e" or "ne" added (Louis / Louise, Jean / Jeanne), or
// its final "o", "e" or "i" turned into "a" (Mario / Maria, Andrei / Andrea).
func genderVariants(a, b string) bool {
	for _, suffix := range []string{"a", "e", "ne"} {
		if b == a+suffix {
			return true
		}
	}
	if len(a) == len(b) && len(a) > 2 && a[:len(a)-1] == b[:len(b)-1] &&
		strings.ContainsRune("oei", rune(a[len(a)-1])) && b[len(b)-1] == 'a' {
		return true
	}
	return false
}

// generational are suffixes that tell a parent from a child of the same name.
var generational = map[string]bool{"jr": true, "sr": true, "junior": true, "senior": true, "ii": true, "iii": true, "iv": true}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

type tokenPair struct {
	i, j  int
	score float64
}

// tokensSimilarity pairs the tokens of a and b greedily, best pairs first, and combines
// the pairs' scores weighted by length.
func tokensSimilarity(jw *metrics.JaroWinkler, a, b []nameToken) float64 {
	var pairs []tokenPair
	for i, x := range a {
		for j, y := range b {
			if s := tokenSimilarity(jw, x, y); s > 0 {
				pairs = append(pairs, tokenPair{i, j, s})
			}
		}
	}
	sort.SliceStable(pairs, func(p, q int) bool { return pairs[p].score > pairs[q].score })
	usedA, usedB := make([]bool, len(a)), make([]bool, len(b))
	matched, total := 0.0, 0.0
	full, paired := 0, 0
	for _, p := range pairs {
		if usedA[p.i] || usedB[p.j] {
			continue
		}
		usedA[p.i], usedB[p.j] = true, true
		la, lb := a[p.i].n, b[p.j].n
		w := float64(la + lb)
		matched += p.score * w
		total += w
		paired++
		if la > 1 && lb > 1 {
			full++
		}
	}
	total += leftoverWeight(leftovers(a, usedA), leftovers(b, usedB))
	if total == 0 {
		return 0
	}
	score := matched / total
	oneToMany := (len(a) == 1) != (len(b) == 1)
	if full == 0 || oneToMany || unpairedGeneration(a, usedA) != unpairedGeneration(b, usedB) || (len(a) >= 2 && len(b) >= 2 && paired < 2) {
		score = min(score, incompleteCap)
	}
	return score
}

// unpairedGeneration reports whether a generational suffix of tokens was left unpaired.
func unpairedGeneration(tokens []nameToken, used []bool) bool {
	for i, u := range used {
		if !u && generational[tokens[i].s] {
			return true
		}
	}
	return false
}

// leftovers returns the lengths of the tokens not used, longest first.
func leftovers(tokens []nameToken, used []bool) []int {
	var out []int
	for i, u := range used {
		if !u {
			out = append(out, tokens[i].n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// leftoverWeight weighs unpaired tokens: as many of each side as the other side also has
// left over disagree and weigh in full; the rest are missing from one name only.
func leftoverWeight(a, b []int) float64 {
	w := 0.0
	n := min(len(a), len(b))
	for _, side := range [][]int{a, b} {
		for i, l := range side {
			if i < n {
				w += float64(l)
			} else {
				w += unmatchedWeight * float64(l)
			}
		}
	}
	return w
}
