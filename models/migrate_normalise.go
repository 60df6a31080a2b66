package models

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/standinghq/standing/rules"
)

// renormaliseVersion is the Go data migration that re-normalises stored phones and
// countries with the libraries rules now uses. It is Go rather than SQL because the
// normalisation is libphonenumber's and ISO 3166's tables, which SQL cannot run.
const renormaliseVersion = 9

// renormaliseMigration rewrites, once, the entity profile phones (stored as typed
// before), nationalities and country codes, and the phone and country list entries, in
// the form new values get: E.164 and ISO 3166-1 alpha-3. A value the libraries cannot
// read is left as it is; a list entry whose new form is already on its list is left too
// (the list already matches that value). Down does nothing: the old forms are not kept.
func renormaliseMigration(dialect Dialect) *goose.Migration {
	bind := func(n int) string {
		if dialect == SQLite {
			return "?"
		}
		return fmt.Sprintf("$%d", n)
	}
	up := func(ctx context.Context, tx *sql.Tx) error {
		if err := renormaliseEntities(ctx, tx, bind); err != nil {
			return fmt.Errorf("re-normalise entities: %w", err)
		}
		if err := renormaliseEntries(ctx, tx, bind); err != nil {
			return fmt.Errorf("re-normalise list entries: %w", err)
		}
		return nil
	}
	return goose.NewGoMigration(renormaliseVersion, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }})
}

// renormalised returns the stored form of v for field, and whether it differs.
func renormalised(field string, v sql.NullString) (string, bool) {
	if !v.Valid || v.String == "" {
		return "", false
	}
	var norm string
	var err error
	switch field {
	case "phone":
		norm, err = rules.NormalisePhone(v.String)
	default:
		norm, err = rules.NormaliseCountry(v.String)
	}
	return norm, err == nil && norm != v.String
}

func renormaliseEntities(ctx context.Context, tx *sql.Tx, bind func(int) string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, phone, nationality, country_code FROM entities
		WHERE phone IS NOT NULL OR nationality IS NOT NULL OR country_code IS NOT NULL`)
	if err != nil {
		return err
	}
	type change struct{ id, column, value string }
	var changes []change
	for rows.Next() {
		var id string
		var phone, nationality, country sql.NullString
		if err := rows.Scan(&id, &phone, &nationality, &country); err != nil {
			rows.Close()
			return err
		}
		for column, v := range map[string]sql.NullString{"phone": phone, "nationality": nationality, "country_code": country} {
			if norm, changed := renormalised(column, v); changed {
				changes = append(changes, change{id, column, norm})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		q := fmt.Sprintf("UPDATE entities SET %s = %s WHERE id = %s", c.column, bind(1), bind(2))
		if _, err := tx.ExecContext(ctx, q, c.value, c.id); err != nil {
			return err
		}
	}
	return nil
}

func renormaliseEntries(ctx context.Context, tx *sql.Tx, bind func(int) string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, list_id, entry_type, value FROM list_entries WHERE entry_type IN ('phone', 'country')`)
	if err != nil {
		return err
	}
	type change struct{ id, listID, value string }
	var changes []change
	for rows.Next() {
		var id, listID, entryType string
		var value sql.NullString
		if err := rows.Scan(&id, &listID, &entryType, &value); err != nil {
			rows.Close()
			return err
		}
		if norm, changed := renormalised(entryType, value); changed {
			changes = append(changes, change{id, listID, norm})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		q := fmt.Sprintf(`UPDATE list_entries SET value = %s WHERE id = %s
			AND NOT EXISTS (SELECT 1 FROM list_entries other WHERE other.list_id = %s AND other.value = %s)`,
			bind(1), bind(2), bind(3), bind(4))
		if _, err := tx.ExecContext(ctx, q, c.value, c.id, c.listID, c.value); err != nil {
			return err
		}
	}
	return nil
}
