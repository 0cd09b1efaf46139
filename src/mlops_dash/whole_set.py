"""The stages of pipeline.STAGES: files made from the whole spec set (Alertmanager routing
and its Kubernetes and Terraform forms, the exporter's bundle and configuration, the digest
and collector CronJobs), each a function of the spec set returning its files."""

from __future__ import annotations

from mlops_dash import conventions as cv
from mlops_dash import output
from mlops_dash.render import (
    alertmanager,
    digest_manifests,
    exporter_manifests,
    exporters,
    job_manifests,
    opsgenie,
    pagerduty,
    slo,
)
from mlops_dash.spec.loader import SpecSet


def notification_templates() -> str:
    """The notification template file shipped with mlops-dash (templates/notifications.tmpl)."""
    from importlib import resources

    ref = resources.files("mlops_dash").joinpath("templates", cv.ALERTMANAGER_TEMPLATE_FILE)
    return ref.read_text(encoding="utf-8")


MATCHER_NOTE = """\
# The operator adds namespace="<this namespace>" to the top route of an AlertmanagerConfig,
# which would drop our alerts: their namespace label varies or is absent. Apply this in the
# Alertmanager's own namespace and set on the Alertmanager resource (operator >= v0.84)
#   spec.alertmanagerConfigMatcherStrategy.type: OnNamespaceExceptForAlertmanagerNamespace
# The top route selects mlops-dash alerts by their dashboard label instead. See README.
"""


def alert_routing(spec_set: SpecSet) -> output.Tree:
    """Alertmanager config with its templates, AlertmanagerConfig manifest, PagerDuty policy."""
    platform = spec_set.platform_model
    dashboards = spec_set.dashboard_models()
    uids = [d.uid for d in dashboards if d.alerts or d.slos]
    slo_inhibit = slo.inhibit_rules(dashboards)
    templates = notification_templates()
    tree: output.Tree = {
        cv.ALERTMANAGER_CONFIG_PATH: output.dump_yaml(
            alertmanager.alertmanager_config(platform, slo_inhibit, dashboards)),
        cv.ALERTMANAGER_TEMPLATE_PATH: templates,
    }
    if uids:
        header, body = output.dump_yaml(alertmanager.alertmanager_config_manifest(
            platform, uids, templates, slo_inhibit, dashboards)).split("\n", 1)
        tree[cv.alertmanager_config_manifest_path(platform.name)] = (
            f"{header}\n{MATCHER_NOTE}{body}")
    policy = pagerduty.escalation_terraform(platform)
    if policy is not None:
        tree[cv.PAGERDUTY_TERRAFORM_PATH] = output.dump_terraform_json(policy)
    og_policy = opsgenie.escalation_terraform(platform)
    if og_policy is not None:
        tree[cv.OPSGENIE_TERRAFORM_PATH] = output.dump_terraform_json(og_policy)
    return tree


def exporter_bundle(spec_set: SpecSet) -> output.Tree:
    """The exporter's Kubernetes objects, when the platform spec configures one."""
    import hashlib

    platform = spec_set.platform_model
    collectors = platform.collectors
    if collectors is None or collectors.exporter is None:
        return {}
    spec = collectors.exporter
    config = output.dump_yaml(platform.model_dump(mode="json", by_alias=True,
                                                  exclude_defaults=True))
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    em = exporter_manifests
    objects = [em.service_account(platform, spec), em.config_map(platform, config),
               em.deployment(platform, spec, collectors.image, digest),
               em.service(platform, spec), em.service_monitor(platform),
               em.network_policy(platform, spec)]
    return {cv.exporter_manifest_path(o["kind"]): output.dump_yaml(o) for o in objects}


def exporter_configs(spec_set: SpecSet) -> output.Tree:
    """Configuration of the exporters whose series the rules query (cloudwatch_exporter)."""
    config = exporters.cloudwatch_config(spec_set.catalogue_model, spec_set.platform_model)
    if config is None:
        return {}
    return {cv.CLOUDWATCH_EXPORTER_CONFIG_PATH: output.dump_yaml(config)}


def digest_job(spec_set: SpecSet) -> output.Tree:
    """The daily digest CronJob (routing.digest with via: job)."""
    manifest = digest_manifests.digest_cronjob(spec_set.platform_model)
    return {} if manifest is None else {cv.DIGEST_CRONJOB_PATH: output.dump_yaml(manifest)}


def collector_jobs(spec_set: SpecSet) -> output.Tree:
    """CronJobs of the drift, evaluation and actuals jobs, their config, the Pushgateway
    (only when the platform spec has collectors.jobs)."""
    platform = spec_set.platform_model
    if platform.collectors is None or platform.collectors.jobs is None:
        return {}
    jobs_yaml = output.dump_yaml(job_manifests.jobs_document(platform.collectors.jobs))
    return {cv.job_manifest_path(f"{o['kind'].lower()}-{o['metadata']['name']}"):
            output.dump_yaml(o) for o in job_manifests.job_objects(platform, jobs_yaml)}
