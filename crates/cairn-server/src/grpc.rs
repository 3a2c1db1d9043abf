//! The gRPC `Cairn` service: thin adapters over the same service layer as REST.

use crate::error::ApiError;
use crate::service::access::Caller;
use crate::service::{Service, now_ms};
use cairn_domain::{MetricSeries, NewRun, Run, RunStatus};
use cairn_proto::v1::cairn_server::Cairn;
use cairn_proto::v1::{
    CancelJobsReply, CancelJobsRequest, CreateRunRequest, GetRunRequest, JobInfo, MetricAck, MetricBatch, RunInfo,
    SetStatusRequest, SubmitJobRequest,
};
use futures::Stream;
use std::pin::Pin;
use tonic::{Request, Response, Status, Streaming};

pub struct Grpc {
    pub service: Service,
}

impl Grpc {
    /// The service answering for the caller the HTTP layer found for this call.
    fn for_request<T>(&self, req: &Request<T>) -> Service {
        match req.extensions().get::<Caller>() {
            Some(c) => self.service.with_caller(c.clone()),
            None if self.service.auth_required() => self.service.with_caller(Caller::anonymous(None)),
            None => self.service.clone(),
        }
    }
}

fn job_info(j: cairn_domain::runner::Job) -> JobInfo {
    JobInfo {
        run_id: j.run_id,
        short_id: j.short_id,
        project: j.project,
        state: j.state.as_str().to_owned(),
        priority: j.priority,
        gpus: j.resources.gpus,
        agent: j.agent.unwrap_or_default(),
        gpu_indices: j.gpu_indices,
        attempts: j.attempts,
        preemptions: j.preemptions,
        exit_code: j.exit_code,
    }
}

/// The run part of a CreateRun or SubmitJob request.
fn new_run(r: CreateRunRequest) -> Result<NewRun, ApiError> {
    let config = if r.config_json.trim().is_empty() {
        Default::default()
    } else {
        match serde_json::from_str::<serde_json::Value>(&r.config_json) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(ApiError::invalid("config_json must be a JSON object")),
            Err(e) => return Err(ApiError::invalid(format!("config_json is not valid JSON: {e}"))),
        }
    };
    Ok(NewRun {
        project: r.project,
        name: non_empty(r.name),
        description: r.description,
        hypothesis: non_empty(r.hypothesis),
        owner: non_empty(r.owner),
        tags: r.tags.into_iter().collect(),
        config,
        parents: r.parents,
        group_id: non_empty(r.group_id),
        seeds: r.seeds,
        ..Default::default()
    })
}

fn info(r: Run) -> RunInfo {
    RunInfo {
        id: r.id.to_string(),
        short_id: r.short_id.to_string(),
        project: r.project.to_string(),
        name: r.name,
        status: r.status.to_string(),
        created_at: r.created_at,
        started_at: r.started_at,
        ended_at: r.ended_at,
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[tonic::async_trait]
impl Cairn for Grpc {
    async fn create_run(&self, req: Request<CreateRunRequest>) -> Result<Response<RunInfo>, Status> {
        let service = self.for_request(&req);
        let new = new_run(req.into_inner())?;
        Ok(Response::new(info(service.create_run(new).await?)))
    }

    async fn submit_job(&self, req: Request<SubmitJobRequest>) -> Result<Response<JobInfo>, Status> {
        let service = self.for_request(&req);
        let r = req.into_inner();
        let mut run = new_run(r.run.unwrap_or_default())?;
        run.command = r.command;
        let submit = cairn_api::jobs::SubmitRequest {
            run,
            resources: cairn_api::jobs::Resources {
                gpus: r.gpus,
                gpu_type: non_empty(r.gpu_type),
                cpus: r.cpus,
                mem_mb: r.mem_mb,
                time_limit_s: (r.time_limit_s > 0).then_some(r.time_limit_s),
            },
            priority: non_empty(r.priority),
            preemptible: r.preemptible,
            budget: non_empty(r.budget),
            team: non_empty(r.team),
            workdir: non_empty(r.workdir),
            in_place: false,
            env: r.env.into_iter().collect(),
        };
        Ok(Response::new(job_info(service.submit_job(submit).await?)))
    }

    async fn get_job(&self, req: Request<GetRunRequest>) -> Result<Response<JobInfo>, Status> {
        let service = self.for_request(&req);
        Ok(Response::new(job_info(service.get_job(&req.into_inner().run).await?)))
    }

    async fn cancel_jobs(&self, req: Request<CancelJobsRequest>) -> Result<Response<CancelJobsReply>, Status> {
        let service = self.for_request(&req);
        let jobs = req.into_inner().jobs;
        if jobs.is_empty() || jobs.len() > 1000 {
            return Err(ApiError::invalid("name 1 to 1000 jobs to cancel").into());
        }
        let done = service.cancel_jobs(&jobs).await?;
        Ok(Response::new(CancelJobsReply { jobs: done.into_iter().map(job_info).collect() }))
    }

    async fn get_run(&self, req: Request<GetRunRequest>) -> Result<Response<RunInfo>, Status> {
        let service = self.for_request(&req);
        Ok(Response::new(info(service.resolve(&req.into_inner().run).await?)))
    }

    async fn set_status(&self, req: Request<SetStatusRequest>) -> Result<Response<RunInfo>, Status> {
        let service = self.for_request(&req);
        let r = req.into_inner();
        let status = RunStatus::parse(&r.status).map_err(ApiError::from)?;
        Ok(Response::new(info(service.set_status(&r.run, status, r.exit_code).await?)))
    }

    type StreamMetricsStream = Pin<Box<dyn Stream<Item = Result<MetricAck, Status>> + Send>>;

    async fn stream_metrics(
        &self,
        req: Request<Streaming<MetricBatch>>,
    ) -> Result<Response<Self::StreamMetricsStream>, Status> {
        let service = self.for_request(&req);
        let mut input = req.into_inner();
        // Batches are stored one after another, in order; each ack follows its commit.
        let output = async_stream(move |tx| async move {
            loop {
                let batch = match input.message().await {
                    Ok(Some(b)) => b,
                    Ok(None) => return,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                let now = now_ms();
                let series = batch
                    .series
                    .into_iter()
                    .map(|s| {
                        let timestamps = if s.timestamps.is_empty() { vec![now; s.steps.len()] } else { s.timestamps };
                        (s.key, MetricSeries { steps: s.steps, values: s.values, timestamps })
                    })
                    .collect();
                let batch_id = (!batch.batch_id.is_empty()).then_some(batch.batch_id.as_str());
                let result = service.log_metrics(&batch.run, series, batch_id).await;
                let msg = result.map(|accepted| MetricAck { sequence: batch.sequence, accepted }).map_err(Status::from);
                let failed = msg.is_err();
                if tx.send(msg).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(output))
    }
}

/// A response stream fed by a task through a small channel (back-pressure included).
fn async_stream<F, Fut>(f: F) -> Pin<Box<dyn Stream<Item = Result<MetricAck, Status>> + Send>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<MetricAck, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
