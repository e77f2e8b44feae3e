// What the stack's alarms watch and where an unknown route goes, read from the synthesized
// template. A state machine's alarm watched ExecutionsFailed only, though an execution may also
// time out (a fleet run at 7 days, a heartbeat at its limit) or be aborted; nothing watched the
// hosts the heartbeat finds down or unreachable; and with no `$default` route an unknown route got
// API Gateway's own `{"message":"Not Found"}`, not SPEC 2.6's error shape.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Match } from 'aws-cdk-lib/assertions';
import { publishHeartbeatMetrics } from '../../lib/fleet/heartbeat.ts';
import { assemblyDir, type Synthesized, synth } from './synth.ts';

type Alarm = Record<string, unknown>;
const alarmsOf = (s: Synthesized): Alarm[] =>
  Object.values(s.json.Resources)
    .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
    .map((r) => r.Properties ?? {});

interface MathMetric {
  Id: string;
  Expression?: string;
  ReturnData?: boolean;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] };
    Period: number;
    Stat: string;
  };
}

/** The fleet-health alarm: the one whose metrics add the heartbeat's down and unreachable counts. */
const healthAlarmsOf = (s: Synthesized) =>
  alarmsOf(s).filter((a) =>
    ((a['Metrics'] as MathMetric[] | undefined) ?? []).some(
      (m) => m.MetricStat?.Metric.MetricName === 'DownHosts',
    ),
  );

describe('alarms and the default route', () => {
  const out = assemblyDir();
  let s: Synthesized;
  before(() => {
    s = synth(out.dir);
  });
  after(() => out.remove());

  it('each state machine alarms when an execution failed, timed out or was aborted', () => {
    const { fleet, operation, heartbeat, changeCallback } = s.stack.machines;
    for (const machine of [fleet, operation, heartbeat, changeCallback]) {
      for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) {
        s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/States',
          MetricName: metric,
          Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: s.id(machine) } }],
          Statistic: 'Sum',
          Threshold: 1,
          EvaluationPeriods: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
        });
      }
    }
  });

  it('alarms on the hosts the heartbeat finds down or unreachable, as its function publishes them', () => {
    const [alarm, ...others] = healthAlarmsOf(s);
    assert.ok(alarm, 'a fleet-health alarm');
    assert.equal(others.length, 0);
    assert.equal(alarm['Threshold'], 1);
    assert.equal(alarm['EvaluationPeriods'], 1);
    assert.equal(alarm['ComparisonOperator'], 'GreaterThanOrEqualToThreshold');
    assert.equal(alarm['TreatMissingData'], 'notBreaching');
    const metrics = alarm['Metrics'] as MathMetric[];
    const expression = metrics.find((m) => m.Expression !== undefined)!;
    assert.equal(expression.ReturnData ?? true, true);
    const byId = new Map(metrics.map((m) => [m.Id, m]));
    // Both counts, each filled with 0 where a period has none, added up.
    const ids = [...expression.Expression!.matchAll(/FILL\((\w+), 0\)/g)].map((m) => m[1]!);
    assert.equal(expression.Expression, ids.map((id) => `FILL(${id}, 0)`).join(' + '));
    const watched = ids.map((id) => byId.get(id)!.MetricStat!);
    assert.deepEqual(watched.map((w) => w.Metric.MetricName).sort(), ['DownHosts', 'UnreachableHosts']);
    for (const stat of watched) {
      assert.equal(stat.Stat, 'Sum');
      assert.equal(stat.Period, 300, 'one heartbeat period (rate(5 minutes))');
    }

    // The heartbeat function's metrics as Powertools writes them (EMF), with the namespace and
    // service name its environment in this template gives: the same namespace, names and dimensions.
    const fn = s.json.Resources[s.id(s.stack.functions.heartbeat.function)]?.Properties ?? {};
    const env = (fn['Environment'] as { Variables: Record<string, string> }).Variables;
    const metricsOut = new Metrics({
      namespace: env['POWERTOOLS_METRICS_NAMESPACE']!,
      serviceName: env['POWERTOOLS_SERVICE_NAME']!,
    });
    let emf: {
      _aws: {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    } & Record<string, unknown> = {
      _aws: { CloudWatchMetrics: [] },
    };
    publishHeartbeatMetrics(
      {
        addMetric: (name, unit, value) => metricsOut.addMetric(name, unit as never, value),
        publishStoredMetrics: () => {
          emf = metricsOut.serializeMetrics() as typeof emf;
        },
      },
      { total: 3, healthy: 1, degraded: 0, down: 1, unreachable: 1, failed: 0, skipped: 0 },
    );
    const [directive] = emf._aws.CloudWatchMetrics;
    assert.ok(directive);
    for (const w of watched) {
      assert.equal(w.Metric.Namespace, directive.Namespace);
      assert.ok(
        directive.Metrics.some((m) => m.Name === w.Metric.MetricName),
        w.Metric.MetricName,
      );
      const dimensions = w.Metric.Dimensions;
      assert.deepEqual(dimensions.map((d) => d.Name).sort(), [...directive.Dimensions[0]!].sort());
      for (const d of dimensions) assert.equal(emf[d.Name], d.Value);
    }
  });

  it('the fleet-health threshold and period follow the settings; 0 hosts turns it off', () => {
    const dir = assemblyDir();
    try {
      const five = synth(dir.dir, { heartbeatAlarmHosts: '5', heartbeatSchedule: 'rate(1 hour)' });
      const [alarm] = healthAlarmsOf(five);
      assert.ok(alarm);
      assert.equal(alarm['Threshold'], 5);
      for (const m of alarm['Metrics'] as MathMetric[]) {
        if (m.MetricStat) assert.equal(m.MetricStat.Period, 3600);
      }
      assert.equal(healthAlarmsOf(synth(dir.dir, { heartbeatAlarmHosts: 0 })).length, 0);
      assert.throws(() => synth(dir.dir, { heartbeatAlarmHosts: 'some' }), /heartbeatAlarmHosts/);
    } finally {
      dir.remove();
    }
  });

  it('sends any other route to the api function behind the API authorizer', () => {
    const routes = Object.values(s.json.Resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
    const fallback = routes.find((r) => r.Properties?.['RouteKey'] === '$default');
    assert.ok(fallback, 'a $default route');
    assert.equal(fallback.Properties?.['AuthorizationType'], 'AWS_IAM');
    const api = routes.find((r) => r.Properties?.['RouteKey'] === 'GET /servers');
    assert.deepEqual(
      fallback.Properties?.['Target'],
      api?.Properties?.['Target'],
      'the same api integration',
    );

    const dir = assemblyDir();
    try {
      const jwt = synth(dir.dir, {
        authorizer: 'jwt',
        jwtIssuer: 'https://issuer.example.com/',
        jwtAudience: 'cloudiq',
      });
      jwt.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: '$default',
        AuthorizationType: 'JWT',
        AuthorizerId: Match.anyValue(),
      });
    } finally {
      dir.remove();
    }
  });
});
