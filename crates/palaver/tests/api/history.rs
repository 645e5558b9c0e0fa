//! History paging by seq: `before`, `after`, `limit`, `has_more`, always ascending.

use crate::helpers::{TestApp, TestUser, id_of, items, seqs};

both_backends!(history_pages_by_seq, history_limit_is_validated);

/// A room with `count` messages whose content names their seq.
async fn room_with_messages(app: &TestApp, count: i64) -> (TestUser, String) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "history", "public").await);
    for i in 1..=count {
        let message = app.post_message(&alice, &room_id, &format!("message {i}")).await;
        assert_eq!(message["seq"], i);
    }
    (alice, room_id)
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

async fn history_pages_by_seq(app: TestApp) {
    let (alice, room_id) = room_with_messages(&app, 120).await;

    let newest = app.history(&alice, &room_id, "").await;
    assert_eq!(seqs(&newest), range(71, 120), "the newest 50, ascending");
    assert_eq!(newest["has_more"], true);
    for message in items(&newest) {
        assert_eq!(message["content"], format!("message {}", message["seq"]));
    }

    let cases = [
        ("?before=71&limit=20", range(51, 70), true),
        ("?after=100&limit=50", range(101, 120), false),
        ("?after=100&limit=20", range(101, 120), false),
        ("?after=0&limit=10", range(1, 10), true),
        ("?before=11", range(1, 10), false),
        ("?before=1", vec![], false),
        ("?after=120", vec![], false),
        ("?limit=200", range(1, 120), false),
        ("?limit=1", vec![120], true),
    ];
    for (query, expected, has_more) in cases {
        let page = app.history(&alice, &room_id, query).await;
        assert_eq!(seqs(&page), expected, "{query}");
        assert_eq!(page["has_more"], has_more, "{query}");
    }

    // Walking back from the newest page by the first seq of each covers everything once.
    let mut seen = Vec::new();
    let mut query = "?limit=25".to_owned();
    loop {
        let page = app.history(&alice, &room_id, &query).await;
        let page_seqs = seqs(&page);
        assert!(page_seqs.windows(2).all(|w| w[0] < w[1]), "ascending: {page_seqs:?}");
        seen.splice(0..0, page_seqs.iter().copied());
        if page["has_more"] == false {
            break;
        }
        assert!(seen.len() < 200, "paging does not end");
        query = format!("?before={}&limit=25", page_seqs[0]);
    }
    assert_eq!(seen, range(1, 120));

    // And forwards with `after` = the last seq of each.
    let mut seen = Vec::new();
    let mut query = "?after=0&limit=35".to_owned();
    loop {
        let page = app.history(&alice, &room_id, &query).await;
        let page_seqs = seqs(&page);
        seen.extend(page_seqs.iter().copied());
        if page["has_more"] == false {
            break;
        }
        assert!(seen.len() < 200, "paging does not end");
        query = format!("?after={}&limit=35", page_seqs.last().unwrap());
    }
    assert_eq!(seen, range(1, 120));
}

async fn history_limit_is_validated(app: TestApp) {
    let (alice, room_id) = room_with_messages(&app, 3).await;
    let path = format!("/rooms/{room_id}/messages");
    for query in ["?limit=201", "?limit=0"] {
        app.get(&alice, &format!("{path}{query}")).await.expect_invalid("limit");
    }
    for query in ["?limit=-1", "?limit=many", "?before=x"] {
        let reply = app.get(&alice, &format!("{path}{query}")).await;
        let status = reply.expect_status_in(&[400, 422]);
        reply.expect_problem(status, None);
    }
    let all = app.history(&alice, &room_id, "?limit=200").await;
    assert_eq!(seqs(&all), vec![1, 2, 3]);
    assert_eq!(all["has_more"], false);
}
