package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report for a terminal: differences per view, then
// the first ones in full.
func (r *Report) WriteText(w io.Writer) error {
	verdict := "CONVERGED: the live projections are what the log builds"
	if !r.Converged() {
		verdict = fmt.Sprintf("DIVERGED: %d differences", r.Differences)
	}
	fmt.Fprintf(w, "log 1..%d: %d events rebuilt in %.1fs\n", r.LastSeq, r.Events, r.Took.Seconds())
	workers := make([]string, 0, len(r.Refused))
	for name := range r.Refused {
		workers = append(workers, name)
	}
	slices.Sort(workers)
	for _, name := range workers {
		if seqs := r.Refused[name]; len(seqs) > 0 {
			fmt.Fprintf(w, "refused by the %s's code (dead letters, live): %s\n", name, joinSeqs(seqs))
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nVIEW\tCOMPARED\tAFTER S (left out)\tDIFFERENCES")
	for _, v := range r.Views {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", v.View, v.Compared, v.AfterS, v.Differences)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Shown) > 0 {
		fmt.Fprintf(w, "\nfirst %d of %d differences:\n", len(r.Shown), r.Differences)
		for _, d := range r.Shown {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	if r.Kept {
		fmt.Fprintf(w, "\nkept: database %s, Redis keys %s*\n", r.ScratchDB, r.ScratchPrefix)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}

// WriteJSON prints the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func joinSeqs(seqs []uint64) string {
	parts := make([]string, len(seqs))
	for i, s := range seqs {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ", ")
}
