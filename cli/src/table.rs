//! Plain-text tables and number formats shared by the commands.

/// A percentage with four decimals: `12.3456%`.
pub fn pct(x: f64) -> String {
    format!("{:.4}%", x * 100.0)
}

/// Renders rows with the first `left` columns aligned left and the others right, two spaces apart.
pub fn render(header: &[&str], left: usize, rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut parts = Vec::with_capacity(cols);
        for (i, c) in cells.enumerate() {
            let pad = width[i].saturating_sub(c.chars().count());
            parts.push(if i < left {
                format!("{c}{}", " ".repeat(pad))
            } else {
                format!("{}{c}", " ".repeat(pad))
            });
        }
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied(), &mut out);
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}
