package models

import (
	"fmt"
	"time"

	"github.com/standinghq/standing/rules"
)

// riskWeights reads an application's risk weights (settings risk.*).
func riskWeights(tx *txn, appID string) (rules.RiskWeights, error) {
	var app Application
	if err := tx.Select("id", "settings").Where("id = ?", appID).Take(&app).Error; err != nil {
		return rules.RiskWeights{}, fmt.Errorf("read risk weights: %w", err)
	}
	return app.Settings.Risk.Weights(), nil
}

// setSignal records (or keeps) a risk signal on the entity and recomputes its risk
// score; the caller saves the entity.
func (w *entityWriter) setSignal(weights rules.RiskWeights, typ, source string, detail map[string]any) {
	w.setSignalAt(weights, typ, source, w.now, detail)
}

// setSignalAt is setSignal for a signal raised at at (an upstream event's time).
func (w *entityWriter) setSignalAt(weights rules.RiskWeights, typ, source string, at time.Time, detail map[string]any) {
	if detail == nil {
		detail = map[string]any{}
	}
	sig := rules.RiskSignal{Type: typ, Source: source, At: FormatTime(at), Detail: detail}
	w.e.RiskSignals = rules.SetSignal(w.e.RiskSignals, sig)
	w.rescore(weights)
}

// removeSignals takes the signals of types from source off the entity and recomputes
// its risk score; the caller saves the entity.
func (w *entityWriter) removeSignals(weights rules.RiskWeights, source string, types ...string) {
	w.e.RiskSignals = rules.RemoveSignals(w.e.RiskSignals, source, types...)
	w.rescore(weights)
}

func (w *entityWriter) rescore(weights rules.RiskWeights) {
	w.e.RiskScore, w.e.RiskSignals = rules.RiskScore(w.e.RiskSignals, weights)
}

// transactionSignal keeps the subject's signal of a transaction in step with its status
// and score: one signal per transaction, replaced when a review decides it.
func (w *entityWriter) transactionSignal(weights rules.RiskWeights, t *Transaction) {
	w.e.RiskSignals = rules.RemoveSignals(w.e.RiskSignals, t.ID, rules.TransactionSignalTypes()...)
	if typ := rules.TransactionSignal(t.Status, t.Score); typ != "" {
		w.setSignal(weights, typ, t.ID, map[string]any{
			"transaction_id": t.TransactionID, "status": t.Status, "score": t.Score,
		})
		return
	}
	w.rescore(weights)
}

// sessionSignal keeps the entity's session_declined signal of a session in step with
// the session's current status.
func (w *entityWriter) sessionSignal(weights rules.RiskWeights, sess *Session) {
	if sess.Status == rules.SessionDeclined {
		// At the upstream time of the decline, so that the signal does not depend on when
		// or in which order events arrived.
		w.setSignalAt(weights, rules.SignalSessionDeclined, sess.SessionID, sess.StatusAt, map[string]any{
			"workflow_id": sess.WorkflowID, "reason": sess.StatusReason,
		})
		return
	}
	w.removeSignals(weights, sess.SessionID, rules.SignalSessionDeclined)
}

// listMatchSignal records the list_match signal of a list-caused status request on the
// locked entity e (whether or not the status changes) and stores its risk columns.
func listMatchSignal(tx *txn, e *Entity, req StatusRequest) error {
	weights, err := riskWeights(tx, e.ApplicationID)
	if err != nil {
		return err
	}
	w := &entityWriter{tx: tx, e: e, now: tx.Now()}
	w.setSignal(weights, rules.SignalListMatch, rules.ListMatchSource(req.Rule, req.Inputs),
		map[string]any{"rule": req.Rule, "status": req.Status})
	return tx.Model(&Entity{}).Where("id = ?", e.ID).
		Updates(map[string]any{"risk_score": e.RiskScore, "risk_signals": jsonColumn(e.RiskSignals)}).Error
}
