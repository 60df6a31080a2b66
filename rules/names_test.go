package rules

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNameTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []string
	}{
		{"John Smith", []string{"john", "smith"}},
		{"SMITH, John", []string{"john", "smith"}},
		{"  José   ÁLVAREZ ", []string{"jose", "alvarez"}},
		{"Straße", []string{"strasse"}},
		{"O'Brien-Smith", []string{"obrien", "smith"}},
		{"Mr. John Smith", []string{"john", "smith"}},
		{"Acme Trading Ltd.", []string{"acme", "trading"}},
		{"Ltd", []string{"ltd"}},
		{"Abu Bakr al-Baghdadi", []string{"abu", "bakr", "baghdadi"}},
		{"Al Noor", []string{"al", "noor"}},
		{"J.R.R. Tolkien", []string{"j", "r", "r", "tolkien"}},
		{"", nil},
		{"...", nil},
	}
	for _, c := range cases {
		got := NameTokens(c.in)
		if c.want == nil {
			require.Empty(t, got, c.in)
			continue
		}
		require.Equal(t, c.want, got, c.in)
	}
}

func TestSkeleton(t *testing.T) {
	t.Parallel()
	same := [][2]string{{"mohammed", "muhammad"}, {"aleksandr", "alexander"}, {"osama", "usama"}, {"sergei", "sergey"}, {"smith", "smyth"}}
	for _, p := range same {
		require.Equal(t, skeleton(p[0]), skeleton(p[1]), p)
	}
	differ := [][2]string{{"maria", "mario"}, {"daniel", "daniela"}, {"rose", "ross"}}
	for _, p := range differ {
		require.NotEqual(t, skeleton(p[0]), skeleton(p[1]), p)
	}
}

func TestNameSimilarityProperties(t *testing.T) {
	t.Parallel()
	require.Equal(t, 1.0, NameSimilarity("John Smith", "SMITH, John"))
	require.Equal(t, 0.0, NameSimilarity("", "John Smith"))
	require.Equal(t, 0.0, NameSimilarity("!!!", "John Smith"))
	for _, p := range [][2]string{{"Mohammed Ali", "Muhammad Ali"}, {"J. Smith", "John Smith"}, {"Kim Jong Un", "Kim Jong Il"}} {
		require.InDelta(t, NameSimilarity(p[0], p[1]), NameSimilarity(p[1], p[0]), 1e-9, "symmetric: %v", p)
	}
	require.Less(t, NameSimilarity("John Smith", "Jane Smith"), 0.92)
	require.GreaterOrEqual(t, NameSimilarity("Mohammed Ali", "Muhammad Ali"), 0.92)
}

type labelledPair struct {
	match    bool
	a, b     string
	category string
}

func readPairs(t *testing.T) []labelledPair {
	t.Helper()
	f, err := os.Open("testdata/name_pairs.tsv")
	require.NoError(t, err)
	defer f.Close()
	var out []labelledPair
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		require.Len(t, cols, 4, "line %q", line)
		require.Contains(t, []string{"0", "1"}, cols[0], "line %q", line)
		out = append(out, labelledPair{match: cols[0] == "1", a: cols[1], b: cols[2], category: cols[3]})
	}
	require.NoError(t, sc.Err())
	return out
}

// Floors the evaluation set must keep at the default threshold.
const (
	precisionFloor = 0.95
	recallFloor    = 0.93
)

// TestNameMatchingEvaluation scores every labelled pair of testdata/name_pairs.tsv at
// the default aml_match_threshold, prints precision and recall (and the pairs it gets
// wrong), and fails when either falls below its floor.
func TestNameMatchingEvaluation(t *testing.T) {
	t.Parallel()
	pairs := readPairs(t)
	require.GreaterOrEqual(t, len(pairs), 200)
	var tp, fp, fn, tn int
	for _, p := range pairs {
		score := NameSimilarity(p.a, p.b)
		got := score >= DefaultAMLMatchThreshold
		switch {
		case got && p.match:
			tp++
		case got && !p.match:
			fp++
			t.Logf("false positive %.3f  %q / %q (%s)", score, p.a, p.b, p.category)
		case !got && p.match:
			fn++
			t.Logf("false negative %.3f  %q / %q (%s)", score, p.a, p.b, p.category)
		default:
			tn++
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	t.Logf("name matching at threshold %.2f over %d pairs: precision %.3f, recall %.3f (tp %d, fp %d, fn %d, tn %d)",
		DefaultAMLMatchThreshold, len(pairs), precision, recall, tp, fp, fn, tn)
	require.GreaterOrEqual(t, precision, precisionFloor, "precision")
	require.GreaterOrEqual(t, recall, recallFloor, "recall")
}
