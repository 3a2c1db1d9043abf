//! gRPC on the REST port: run creation, status, and streaming ingestion whose points
//! are visible through REST.

use crate::common::{TestServer, get_json};
use cairn_proto::v1::cairn_client::CairnClient;
use cairn_proto::v1::{CreateRunRequest, GetRunRequest, MetricBatch, Series, SetStatusRequest};
use serde_json::Value;

pub async fn grpc_client(url: &str) -> CairnClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap().connect().await.unwrap();
    CairnClient::new(channel)
}

#[tokio::test]
async fn streamed_metrics_are_acknowledged_and_visible_over_rest() {
    let srv = TestServer::start(&[], &[]).await;
    let mut client = grpc_client(&srv.url()).await;
    let run = client
        .create_run(CreateRunRequest {
            project: "grpc".into(),
            hypothesis: "streaming works".into(),
            config_json: r#"{"lr": 0.01, "layers": [64, 64]}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.status, "running");
    let mut batches: Vec<MetricBatch> = (0..10u64)
        .map(|b| MetricBatch {
            run: run.short_id.clone(),
            sequence: b,
            batch_id: format!("batch-{b}"),
            series: vec![Series {
                key: "loss".into(),
                steps: (b as i64 * 1000..(b as i64 + 1) * 1000).collect(),
                values: (0..1000).map(|i| if i == 0 && b == 3 { f64::NAN } else { 1.0 / (i + 1) as f64 }).collect(),
                timestamps: vec![],
            }],
        })
        .collect();
    // A client that lost the acknowledgement of batch 3 sends it again.
    let mut again = batches[3].clone();
    again.sequence = 10;
    batches.push(again);
    let mut acks = client.stream_metrics(futures::stream::iter(batches)).await.unwrap().into_inner();
    let mut seen = vec![];
    while let Some(ack) = acks.message().await.unwrap() {
        assert_eq!(ack.accepted, 1000);
        seen.push(ack.sequence);
    }
    assert_eq!(seen, (0..11).collect::<Vec<_>>(), "every batch acknowledged, in order");

    let body = get_json(&srv.client(), format!("{}/api/v1/runs/{}/metrics/loss", srv.url(), run.id)).await;
    assert_eq!(body["steps"].as_array().unwrap().len(), 10_000, "the resent batch is stored once");
    assert_eq!(body["values"][3000], "NaN");

    let done = client
        .set_status(SetStatusRequest { run: run.id.clone(), status: "finished".into(), exit_code: Some(0) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, "finished");
    assert!(done.ended_at.is_some());
    let again = client.get_run(GetRunRequest { run: run.short_id.clone() }).await.unwrap().into_inner();
    assert_eq!(again.id, run.id);
    let rest: Value = get_json(&srv.client(), format!("{}/api/v1/runs/{}", srv.url(), run.id)).await;
    assert_eq!(rest["config"]["layers"], serde_json::json!([64, 64]));
}

#[tokio::test]
async fn grpc_errors_carry_the_api_codes() {
    let srv = TestServer::start(&[], &[]).await;
    let mut client = grpc_client(&srv.url()).await;
    let err = client.create_run(CreateRunRequest { project: "p".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("hypothesis_required"), "{}", err.message());
    let err = client.get_run(GetRunRequest { run: "zzzzzzzz".into() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    // A bad batch ends the stream with a status; the batches before it stay.
    let run = client
        .create_run(CreateRunRequest { project: "p".into(), hypothesis: "h".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let good = MetricBatch {
        batch_id: String::new(),
        run: run.id.clone(),
        sequence: 1,
        series: vec![Series { key: "a".into(), steps: vec![1], values: vec![1.0], timestamps: vec![] }],
    };
    let bad = MetricBatch {
        batch_id: String::new(),
        run: run.id.clone(),
        sequence: 2,
        series: vec![Series { key: "a".into(), steps: vec![1, 2], values: vec![1.0], timestamps: vec![] }],
    };
    let mut acks = client.stream_metrics(futures::stream::iter(vec![good, bad])).await.unwrap().into_inner();
    assert_eq!(acks.message().await.unwrap().unwrap().sequence, 1);
    let err = acks.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let body = get_json(&srv.client(), format!("{}/api/v1/runs/{}/metrics/a", srv.url(), run.id)).await;
    assert_eq!(body["steps"], serde_json::json!([1]));
}
