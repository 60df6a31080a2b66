package models

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSettingsValidateRanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		change  func(*Settings)
		problem string // "" = valid
	}{
		{"defaults", func(*Settings) {}, ""},
		{"retention zero purges at the next pass", func(s *Settings) { s.RetentionDays = 0 }, ""},
		{"retention negative", func(s *Settings) { s.RetentionDays = -1 }, "retention_days"},
		{"threshold one", func(s *Settings) { s.AMLMatchThreshold = 1 }, ""},
		{"threshold small", func(s *Settings) { s.AMLMatchThreshold = 0.01 }, ""},
		{"threshold zero", func(s *Settings) { s.AMLMatchThreshold = 0 }, "aml_match_threshold"},
		{"threshold negative", func(s *Settings) { s.AMLMatchThreshold = -0.5 }, "aml_match_threshold"},
		{"threshold above one", func(s *Settings) { s.AMLMatchThreshold = 1.01 }, "aml_match_threshold"},
		{"reverification negative", func(s *Settings) { s.ReverificationIntervalDays = -1 }, "reverification_interval_days"},
		{"reverification thirty days", func(s *Settings) { s.ReverificationIntervalDays = 30 }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := DefaultSettings()
			c.change(&s)
			problems := s.Validate()
			if c.problem == "" {
				require.Empty(t, problems)
				return
			}
			require.Contains(t, problems, c.problem)
		})
	}
}

func TestMergeSettingsRefusesSettingsWithoutEffect(t *testing.T) {
	t.Parallel()
	current := DefaultSettings()
	for name := range inertSettings {
		out, problems := MergeSettings(current, map[string]any{name: float64(1), "retention_days": float64(7)})
		require.Contains(t, problems, name, "a setting without an effect is refused")
		require.Equal(t, current, out, "nothing of the patch is applied")
	}
	out, problems := MergeSettings(current, map[string]any{"retention_days": float64(0), "reverification_interval_days": float64(30)})
	require.Empty(t, problems)
	require.Equal(t, 0, out.RetentionDays)
	require.Equal(t, 30, out.ReverificationIntervalDays)
}
