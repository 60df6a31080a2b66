package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Triggers of a job run.
const (
	// TriggerSchedule is a run started by the scheduler of a work process.
	TriggerSchedule = "schedule"
	// TriggerCommand is a run started by an operator's one-shot command.
	TriggerCommand = "command"
)

// JobRun is one run of a periodic job for one period (its bucket). The pair (job,
// bucket) is unique: whatever the number of work processes, a period has one run. A run
// holds a lease while it works; one whose lease ran out before it finished (its process
// died) is taken over and redone by the next claim.
type JobRun struct {
	ID         string           `gorm:"primaryKey"`
	Job        string           `gorm:"not null"`
	Bucket     string           `gorm:"not null"`
	Trigger    string           `gorm:"column:trigger;not null"`
	Attempts   int              `gorm:"not null"`
	Counts     map[string]int64 `gorm:"serializer:json;not null"`
	Error      string           `gorm:"not null"`
	StartedAt  time.Time        `gorm:"not null"`
	LeaseUntil time.Time        `gorm:"not null"`
	FinishedAt *time.Time
}

// JobRunResource is the JSON shape of a job run.
type JobRunResource struct {
	UUID       string           `json:"uuid"`
	Job        string           `json:"job"`
	Period     string           `json:"period"`
	Trigger    string           `json:"trigger"`
	Attempts   int              `json:"attempts"`
	Counts     map[string]int64 `json:"counts"`
	Error      string           `json:"error"`
	StartedAt  string           `json:"started_at"`
	FinishedAt *string          `json:"finished_at"`
}

// Resource returns the run's JSON shape.
func (r *JobRun) Resource() JobRunResource {
	counts := r.Counts
	if counts == nil {
		counts = map[string]int64{}
	}
	return JobRunResource{UUID: r.ID, Job: r.Job, Period: r.Bucket, Trigger: r.Trigger, Attempts: r.Attempts,
		Counts: counts, Error: r.Error, StartedAt: FormatTime(r.StartedAt), FinishedAt: FormatTimePtr(r.FinishedAt)}
}

// ClaimJobRun claims the run of job for bucket, holding it for lease. It returns the run
// and true when the caller is to do the work: the run is new, or an earlier attempt's
// lease ran out before it finished. It returns false when the run finished or another
// process holds it.
func (s *Store) ClaimJobRun(ctx context.Context, job, bucket, trigger string, lease time.Duration) (*JobRun, bool, error) {
	var run JobRun
	claimed := false
	err := s.transaction(ctx, func(tx *txn) error {
		now := tx.Now()
		run = JobRun{ID: newID(), Job: job, Bucket: bucket, Trigger: trigger, Attempts: 1,
			Counts: map[string]int64{}, StartedAt: now, LeaseUntil: now.Add(lease)}
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "job"}, {Name: "bucket"}}, DoNothing: true}).Create(&run)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			claimed = true
			return nil
		}
		run = JobRun{} // a fresh row: gorm would add the new row's id to the query
		if err := forUpdate(tx).Where("job = ? AND bucket = ?", job, bucket).Take(&run).Error; err != nil {
			return err
		}
		if run.FinishedAt != nil || run.LeaseUntil.After(now) {
			return nil
		}
		run.Attempts++
		run.LeaseUntil = now.Add(lease)
		run.Error = ""
		claimed = true
		return tx.Model(&JobRun{}).Where("id = ?", run.ID).
			Updates(map[string]any{"attempts": run.Attempts, "lease_until": run.LeaseUntil, "error": ""}).Error
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim %s run %s: %w", job, bucket, err)
	}
	return &run, claimed, nil
}

// RenewJobRun extends a claimed run's lease, between two batches of its work.
func (s *Store) RenewJobRun(ctx context.Context, id string, lease time.Duration) error {
	return s.db.WithContext(ctx).Model(&JobRun{}).Where("id = ? AND finished_at IS NULL", id).
		Update("lease_until", s.Now().Add(lease)).Error
}

// FinishJobRun records the end of a run with its counts. A run that failed keeps its
// error and stays unfinished, with its lease ended, so that the next claim redoes it.
func (s *Store) FinishJobRun(ctx context.Context, id string, counts map[string]int64, cause error) error {
	now := s.Now()
	updates := map[string]any{"counts": jsonColumn(counts)}
	if cause != nil {
		msg := cause.Error()
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
		updates["error"], updates["lease_until"] = msg, now
	} else {
		updates["finished_at"] = now
	}
	return s.db.WithContext(ctx).Model(&JobRun{}).Where("id = ?", id).Updates(updates).Error
}

// JobRuns returns the most recent runs of job, newest first, and their number.
func (s *Store) JobRuns(ctx context.Context, job string, limit, offset int) ([]JobRun, int64, error) {
	q := s.db.WithContext(ctx).Model(&JobRun{}).Where("job = ?", job)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []JobRun
	err := q.Order("started_at DESC, id DESC").Limit(limit).Offset(offset).Find(&out).Error
	return out, total, err
}

// JobRunFor returns the run of job for bucket.
func (s *Store) JobRunFor(ctx context.Context, job, bucket string) (*JobRun, error) {
	var run JobRun
	err := s.db.WithContext(ctx).Where("job = ? AND bucket = ?", job, bucket).Take(&run).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("%s run %s: %w", job, bucket, ErrNotFound)
	}
	return &run, err
}
