package rules_test

import (
	"testing"

	"github.com/standinghq/standing/rules"
)

func BenchmarkEvaluateTransaction(b *testing.B) {
	f, s := quiet(), defaults()
	f.Amount, f.WindowCount, f.WindowVolume = dec("12000"), 11, dec("60000")
	b.ReportAllocs()
	for b.Loop() {
		_ = rules.EvaluateTransaction(f, s)
	}
}

func BenchmarkNameSimilarity(b *testing.B) {
	for b.Loop() {
		rules.NameSimilarity("Mohammed Abdul Rahman Ali", "ALI, Muhammad Abdulrahman")
	}
}

func BenchmarkPreparedSimilarity(b *testing.B) {
	p, q := rules.PrepareName("Mohammed Abdul Rahman Ali"), rules.PrepareName("ALI, Muhammad Abdulrahman")
	b.ReportAllocs()
	for b.Loop() {
		p.Similarity(q)
	}
}
