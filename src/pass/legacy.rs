//! Legacy REST API v1 ("clientless"): the browser URL that starts authentication for a reg code
//! (seed 003, `GET <SP_FQDN>/api/v1/authenticate`). Nothing is called here; the URL is opened on a
//! second screen.

use super::form::encode;

/// `<legacy_base_url>/api/v1/authenticate?reg_code=…&requestor_id=…&mso_id=…&domain_name=…&noflash=true&no_iframe=true[&generic_data=…]&redirect_url=…`
///
/// `reg_code` goes first because old Internet Explorer turned `&reg` into `®`; `redirect_url` goes
/// last as the page requires. Every value is URL-encoded exactly once.
pub fn authenticate_url(
    legacy_base_url: &str,
    requestor_id: &str,
    mvpd: &str,
    reg_code: &str,
    domain_name: &str,
    redirect_url: &str,
    generic_data: Option<&str>,
) -> String {
    let mut url = format!(
        "{}/api/v1/authenticate?reg_code={}&requestor_id={}&mso_id={}&domain_name={}&noflash=true&no_iframe=true",
        legacy_base_url.trim_end_matches('/'),
        encode(reg_code),
        encode(requestor_id),
        encode(mvpd),
        encode(domain_name),
    );
    if let Some(g) = generic_data.filter(|g| !g.is_empty()) {
        url.push_str("&generic_data=");
        url.push_str(&encode(g));
    }
    url.push_str("&redirect_url=");
    url.push_str(&encode(redirect_url));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_003_parameters_order_and_encoding() {
        let url = authenticate_url(
            "https://api.auth.adobe.com/",
            "REF30",
            "Cablevision",
            "8ER640M",
            "adobe.com",
            "https://example.com/done?x=1&y=2",
            None,
        );
        assert_eq!(
            url,
            "https://api.auth.adobe.com/api/v1/authenticate?reg_code=8ER640M&requestor_id=REF30\
             &mso_id=Cablevision&domain_name=adobe.com&noflash=true&no_iframe=true\
             &redirect_url=https%3A%2F%2Fexample.com%2Fdone%3Fx%3D1%26y%3D2"
        );
        // reg_code first (no `&reg` anywhere), redirect_url last.
        let query = url.split_once('?').unwrap().1;
        assert!(query.starts_with("reg_code="));
        assert!(!url.contains("&reg"));
        assert!(
            query
                .rsplit('&')
                .next()
                .unwrap()
                .starts_with("redirect_url=")
        );
    }

    #[test]
    fn generic_data_sits_before_redirect_url() {
        let url = authenticate_url(
            "https://api.auth-staging.adobe.com",
            "REF 30",
            "TempPass_TEST40",
            "AB12",
            "adobe.com",
            "https://adobe.com",
            Some("{\"promo\":true}"),
        );
        assert!(url.contains("requestor_id=REF%2030&"));
        assert!(url.ends_with(
            "&no_iframe=true&generic_data=%7B%22promo%22%3Atrue%7D&redirect_url=https%3A%2F%2Fadobe.com"
        ));
        // Empty generic_data is left out.
        let url = authenticate_url("https://h", "R", "M", "C", "d", "r", Some(""));
        assert!(!url.contains("generic_data"));
    }
}
