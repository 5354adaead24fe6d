package report

import (
	"fmt"
	"math"
	"strings"
)

// Line is one series of a chart.
type Line struct {
	Name string
	X, Y []float64
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// LineChart draws series as an SVG line chart with axes, ticks and a legend.
// logY draws the y axis on a log scale (latencies span orders of magnitude).
func LineChart(title, xLabel, yLabel string, lines []Line, logY bool) string {
	const W, H, L, R, T, B = 760.0, 360.0, 70.0, 20.0, 40.0, 50.0
	pw, ph := W-L-R, H-T-B
	xmax, ymin, ymax := 1.0, math.Inf(1), 0.0
	for _, l := range lines {
		for i := range l.X {
			xmax = math.Max(xmax, l.X[i])
			if l.Y[i] > 0 || !logY {
				ymin = math.Min(ymin, l.Y[i])
			}
			ymax = math.Max(ymax, l.Y[i])
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	if logY {
		ymin = math.Pow(10, math.Floor(math.Log10(math.Max(ymin, 0.01))))
		ymax = math.Pow(10, math.Ceil(math.Log10(ymax)))
		if ymax <= ymin {
			ymax = ymin * 10
		}
	} else {
		ymin = 0
		ymax = niceCeil(ymax * 1.05)
	}
	sx := func(x float64) float64 { return L + x/xmax*pw }
	sy := func(y float64) float64 {
		if logY {
			y = math.Max(y, ymin)
			return T + ph - (math.Log10(y)-math.Log10(ymin))/(math.Log10(ymax)-math.Log10(ymin))*ph
		}
		return T + ph - (y-ymin)/(ymax-ymin)*ph
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", L, esc(title))
	// Grid and y ticks.
	var yt []float64
	if logY {
		for v := ymin; v <= ymax*1.0001; v *= 10 {
			yt = append(yt, v)
		}
	} else {
		for i := 0; i <= 5; i++ {
			yt = append(yt, ymin+(ymax-ymin)*float64(i)/5)
		}
	}
	for _, v := range yt {
		y := sy(v)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`+"\n", L, y, L+pw, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", L-6, y+4, fmtNum(v))
	}
	for i := 0; i <= 6; i++ {
		v := xmax * float64(i) / 6
		x := sx(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#999"/>`+"\n", x, T+ph, x, T+ph+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", x, T+ph+18, fmtNum(v))
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#333"/>`+"\n", L, T, pw, ph)
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", L+pw/2, H-10, esc(xLabel))
	fmt.Fprintf(&b, `<text x="16" y="%g" text-anchor="middle" transform="rotate(-90 16 %g)">%s</text>`+"\n", T+ph/2, T+ph/2, esc(yLabel))
	for i, l := range lines {
		col := palette[i%len(palette)]
		var pts strings.Builder
		for j := range l.X {
			fmt.Fprintf(&pts, "%.1f,%.1f ", sx(l.X[j]), sy(l.Y[j]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", col, pts.String())
		if len(l.X) <= 12 {
			// A few measured points (a curve over rates): each one marked.
			for j := range l.X {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", sx(l.X[j]), sy(l.Y[j]), col)
			}
		}
		lx := L + 10 + float64(i)*170
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="3"/>`, lx, T+12, lx+18, T+12, col)
		fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text>`+"\n", lx+22, T+16, esc(l.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
