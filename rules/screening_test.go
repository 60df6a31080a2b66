package rules

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecideScreening(t *testing.T) {
	t.Parallel()
	watch := ScreeningEntry{ID: "e1", ListID: "l1", ListType: ListWatchlist, Value: "muhammad ali", Comment: "OFAC"}
	block := ScreeningEntry{ID: "e2", ListID: "l2", ListType: ListBlocklist, Value: "ALI, Mohammed"}
	dated := ScreeningEntry{ID: "e3", ListID: "l1", ListType: ListWatchlist, Value: "Ana Ruiz", DateOfBirth: "1990-04-02"}
	other := ScreeningEntry{ID: "e4", ListID: "l1", ListType: ListWatchlist, Value: "Jane Smith"}
	settings := ScreeningSettings{Threshold: DefaultAMLMatchThreshold}
	cases := []struct {
		name     string
		facts    ScreeningFacts
		hits     []string
		to       string
		inputsOf string
	}{
		{"watchlist hit flags", ScreeningFacts{Status: EntityActive, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch, other}},
			[]string{"e1"}, EntityFlagged, "e1"},
		{"blocklist hit blocks and is decisive", ScreeningFacts{Status: EntityActive, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch, block}},
			[]string{"e2", "e1"}, EntityBlocked, "e2"},
		{"blocklist hit blocks a flagged entity", ScreeningFacts{Status: EntityFlagged, Name: "Mohammed Ali", Entries: []ScreeningEntry{block}},
			[]string{"e2"}, EntityBlocked, "e2"},
		{"watchlist hit never lowers BLOCKED", ScreeningFacts{Status: EntityBlocked, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch}},
			[]string{"e1"}, "", ""},
		{"watchlist hit on a flagged entity records only", ScreeningFacts{Status: EntityFlagged, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch}},
			[]string{"e1"}, "", ""},
		{"an entry that hit before never fires again", ScreeningFacts{Status: EntityActive, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch},
			AlreadyHit: map[string]bool{"e1": true}}, nil, "", ""},
		{"date of birth must equal", ScreeningFacts{Status: EntityActive, Name: "Ana Ruiz", DateOfBirth: "1990-04-03", Entries: []ScreeningEntry{dated}},
			nil, "", ""},
		{"entity without date of birth does not match a dated entry", ScreeningFacts{Status: EntityActive, Name: "Ana Ruiz", Entries: []ScreeningEntry{dated}},
			nil, "", ""},
		{"same date of birth matches", ScreeningFacts{Status: EntityActive, Name: "RUIZ, Ana", DateOfBirth: "1990-04-02", Entries: []ScreeningEntry{dated}},
			[]string{"e3"}, EntityFlagged, "e3"},
		{"no name, no hit", ScreeningFacts{Status: EntityActive, Entries: []ScreeningEntry{watch}}, nil, "", ""},
		{"different person", ScreeningFacts{Status: EntityActive, Name: "John Smith", Entries: []ScreeningEntry{other}}, nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DecideScreening(c.facts, settings)
			var ids []string
			for _, h := range d.Hits {
				ids = append(ids, h.EntryID)
				require.Equal(t, c.facts.Name, h.MatchedName)
				require.GreaterOrEqual(t, h.Score, DefaultAMLMatchThreshold)
			}
			require.Equal(t, c.hits, ids)
			if c.to == "" {
				require.Nil(t, d.Transition)
				return
			}
			require.NotNil(t, d.Transition)
			require.Equal(t, c.to, d.Transition.To)
			require.Equal(t, ReasonOngoingMonitoring, d.Transition.Reason)
			require.Equal(t, RuleOngoingMonitoring, d.Transition.Rule)
			require.Equal(t, c.inputsOf, d.Transition.Inputs["entry_id"])
			for _, k := range []string{"entry_id", "list_id", "matched_name", "score", "value"} {
				require.Contains(t, d.Transition.Inputs, k)
			}
		})
	}
	d := DecideScreening(ScreeningFacts{Status: EntityActive, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch}}, settings)
	require.Equal(t, "OFAC", d.Transition.Inputs["comment"])
	// A stricter threshold keeps a transliteration out; 1 needs the same tokens.
	require.Empty(t, DecideScreening(ScreeningFacts{Status: EntityActive, Name: "Mohammed Ali", Entries: []ScreeningEntry{watch}},
		ScreeningSettings{Threshold: 1}).Hits)
	require.Len(t, DecideScreening(ScreeningFacts{Status: EntityActive, Name: "Ali Muhammad", Entries: []ScreeningEntry{watch}},
		ScreeningSettings{Threshold: 1}).Hits, 1)
}

func TestRiskScore(t *testing.T) {
	t.Parallel()
	w := DefaultRiskWeights()
	cases := []struct {
		name  string
		types []string
		want  int
	}{
		{"none", nil, 0},
		{"one decline", []string{SignalSessionDeclined}, w.SessionDeclined},
		{"sum", []string{SignalAMLHit, SignalTransactionReview}, w.AMLHit + w.TransactionReview},
		{"capped at 100", []string{SignalAMLHit, SignalAMLHit, SignalListMatch}, 100},
		{"unknown type weighs nothing", []string{"other"}, 0},
	}
	for _, c := range cases {
		var signals []RiskSignal
		for i, typ := range c.types {
			signals = append(signals, RiskSignal{Type: typ, Source: string(rune('a' + i))})
		}
		score, weighed := RiskScore(signals, w)
		require.Equal(t, c.want, score, c.name)
		for _, s := range weighed {
			require.Equal(t, w.Weight(s.Type), s.Weight)
		}
	}
	for _, typ := range []string{SignalSessionDeclined, SignalAMLHit, SignalListMatch, SignalTransactionReview, SignalTransactionDeclined, SignalTransactionScore} {
		require.Positive(t, w.Weight(typ), typ)
	}
}

func TestSignals(t *testing.T) {
	t.Parallel()
	s := SetSignal(nil, RiskSignal{Type: SignalTransactionReview, Source: "t1", At: "2026-02-01T00:00:00Z"})
	s = SetSignal(s, RiskSignal{Type: SignalTransactionReview, Source: "t1", At: "2026-02-01T00:00:00Z", Weight: 3})
	require.Len(t, s, 1, "one signal per type and source")
	require.Equal(t, 3, s[0].Weight)
	s = SetSignal(s, RiskSignal{Type: SignalSessionDeclined, Source: "s1", At: "2026-01-01T00:00:00Z"})
	require.Equal(t, "s1", s[0].Source, "ordered by time, whatever the order of arrival")
	s = RemoveSignals(s, "t1", TransactionSignalTypes()...)
	require.Equal(t, []RiskSignal{{Type: SignalSessionDeclined, Source: "s1", At: "2026-01-01T00:00:00Z"}}, s)
	for i := range MaxRiskSignals + 5 {
		s = SetSignal(s, RiskSignal{Type: SignalTransactionScore, Source: string(rune(1000 + i)), At: "2026-03-01T00:00:00Z"})
	}
	require.Len(t, s, MaxRiskSignals)

	require.Equal(t, SignalTransactionDeclined, TransactionSignal(TxDeclined, 90))
	require.Equal(t, SignalTransactionReview, TransactionSignal(TxInReview, 0))
	require.Equal(t, SignalTransactionScore, TransactionSignal(TxApproved, 30))
	require.Equal(t, "", TransactionSignal(TxApproved, 0))
	require.Equal(t, "", TransactionSignal(TxPending, 0))
	require.True(t, IsListRule(RuleWatchlist))
	require.True(t, IsListRule(RuleBlocklist))
	require.False(t, IsListRule(RuleAutoBlockOnDecline))
	require.Equal(t, "e-1", ListMatchSource(RuleWatchlist, map[string]any{"entry_id": "e-1"}))
	require.Equal(t, RuleWatchlist, ListMatchSource(RuleWatchlist, nil))
}

func TestPreparedEntriesDecideTheSame(t *testing.T) {
	t.Parallel()
	entries := []ScreeningEntry{
		{ID: "a", ListType: ListWatchlist, Value: "ALI, Muhammad"},
		{ID: "b", ListType: ListBlocklist, Value: "Abdul Rahman Hassan"},
		{ID: "c", ListType: ListWatchlist, Value: "Jane Smith"},
	}
	prepared := append([]ScreeningEntry(nil), entries...)
	PrepareEntries(prepared)
	for _, name := range []string{"Mohammed Ali", "Abdulrahman Hassan", "John Smith", ""} {
		f := ScreeningFacts{Status: EntityActive, Name: name}
		f.Entries = entries
		plain := DecideScreening(f, ScreeningSettings{Threshold: DefaultAMLMatchThreshold})
		f.Entries = prepared
		require.Equal(t, plain, DecideScreening(f, ScreeningSettings{Threshold: DefaultAMLMatchThreshold}), name)
	}
}
