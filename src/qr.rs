//! A QR code of the sign-in URL for the terminal, drawn with half-block characters (two modules per
//! character cell), black on the terminal's light/dark background made explicit by a quiet zone.

use qrcodegen::{QrCode, QrCodeEcc};

/// The text rendering of `text` as a QR code, or `None` if it does not fit a QR code.
pub fn render(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Low).ok()?;
    let size = qr.size();
    let quiet = 2;
    // true = light module; the quiet zone is light.
    let light = |x: i32, y: i32| !qr.get_module(x, y);
    let mut out = String::new();
    let mut y = -quiet;
    while y < size + quiet {
        for x in -quiet..size + quiet {
            out.push(match (light(x, y), light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
        y += 2;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_square() {
        let s =
            super::render("https://sp.auth.adobe.com/api/v2/authenticate/REF30/8ER640M").unwrap();
        let lines: Vec<&str> = s.lines().collect();
        let width = lines[0].chars().count();
        assert!(width >= 25 && lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2));
        // the quiet zone is light on top
        assert!(lines[0].chars().all(|c| c == '█'));
    }
}
