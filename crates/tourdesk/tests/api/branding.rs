//! The operator's brand (#17 item 22): `OPERATOR_NAME`, `BRAND_COLOR` and
//! `BRAND_LOGO` reach every page, the pages' stylesheet and the email.

use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(
    the_brand_reaches_pages_styles_and_email,
    without_a_logo_there_is_none
);

const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><circle cx=\"5\" cy=\"5\" r=\"4\" fill=\"#7a1f5c\"/></svg>";

async fn the_brand_reaches_pages_styles_and_email(app: TestApp) {
    let dir = std::env::temp_dir().join(format!("tourdesk-brand-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let logo = dir.join("logo.svg");
    std::fs::write(&logo, LOGO).expect("write the logo");
    let Some(app) = TestApp::spawn(app.backend, move |c| {
        c.operator_name = "Spirit <Tours> & Co".into();
        c.brand_color = "#7A1F5C".into();
        c.brand_logo = Some(logo);
    })
    .await
    else {
        return;
    };
    let f = app.fixture(5).await;
    let tour_page = format!("/tours/{}", f.tour);
    for path in ["/", tour_page.as_str(), "/manage", "/account", "/admin"] {
        let r = app.get(path).await;
        r.assert_status(200);
        assert!(
            r.text.contains(
                "<img class=\"logo\" src=\"/brand/logo\" alt=\"\">Spirit &lt;Tours&gt; &amp; Co"
            ),
            "{path}: the header names the operator, escaped: {}",
            r.text
        );
        assert!(
            r.text
                .contains("<img class=\"logo\" src=\"/brand/logo\" alt=\"\">"),
            "{path}"
        );
        assert!(
            r.text.contains(" · Spirit &lt;Tours&gt; &amp; Co</title>"),
            "{path}"
        );
        assert!(r.text.contains("href=\"/brand.css\""), "{path}");
        assert!(
            !r.text.contains("Spirit Tours"),
            "{path}: nothing hard-coded"
        );
        assert!(!r.text.contains("{{"), "{path}: every placeholder filled");
    }
    let css = app.get("/brand.css").await;
    css.assert_status(200);
    assert!(css.text.contains("--td-brand: #7a1f5c;"), "{}", css.text);
    assert_eq!(
        css.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/css; charset=utf-8")
    );
    let served = app.get("/brand/logo").await;
    served.assert_status(200);
    assert_eq!(served.text, LOGO);
    assert_eq!(
        served
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );

    // Email: the brand colour on its buttons, the logo atop it.
    let booked = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 2,
                    "customer_name": "Brenda Brand", "customer_email": "brenda@example.com"}),
        )
        .await;
    booked.assert_status(201);
    let mut html = String::new();
    for _ in 0..100 {
        let list = app
            .get_as(
                &f.admin,
                "/api/calendar/admin/messages?email=brenda@example.com",
            )
            .await;
        if let Some(id) = list.body[0]["id"].as_i64() {
            html = app
                .get_as(&f.admin, &format!("/api/calendar/admin/messages/{id}/html"))
                .await
                .text;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        html.contains("background:#7a1f5c"),
        "the brand colour: {html}"
    );
    // (minijinja writes `/` in attributes as `&#x2f;`, which browsers read as `/`.)
    assert!(
        html.replace("&#x2f;", "/")
            .contains("/brand/logo\" alt=\"\""),
        "the logo: {html}"
    );
    assert!(
        html.contains("Spirit &lt;Tours&gt; &amp; Co"),
        "the name, escaped: {html}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn without_a_logo_there_is_none(app: TestApp) {
    let r = app.get("/").await;
    r.assert_status(200);
    assert!(
        r.text
            .contains("<a class=\"brand\" href=\"/\">Tourdesk</a>"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("class=\"logo\""));
    app.get("/brand/logo").await.assert_status(404);
    let css = app.get("/brand.css").await;
    assert!(css.text.contains("--td-brand: #0b5cad;"), "{}", css.text);
}
