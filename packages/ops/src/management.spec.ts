import { ManagementApi, managementUrlOf } from './management';

describe('managementUrlOf', () => {
  it("is port 15672 on the AMQP host, with the AMQP credentials", () => {
    expect(managementUrlOf('amqp://app:pw@mq:5672/prod')).toBe('http://app:pw@mq:15672/');
  });

  it("takes the first address of a broker list", () => {
    expect(managementUrlOf('amqp://app:pw@mq-1:5672/prod, amqp://other:pw2@mq-2:5673/prod')).toBe('http://app:pw@mq-1:15672/');
  });

  it('is MANAGEMENT_URL when that is set', () => {
    expect(managementUrlOf('amqp://app:pw@mq-1:5672,amqp://app:pw@mq-2:5672', 'http://admin:x@mgmt:15672/')).toBe('http://admin:x@mgmt:15672/');
  });

  it("reads the vhost of the first address of a list", () => {
    const api = new ManagementApi('http://app:pw@mq-1:15672/', 'amqp://app:pw@mq-1:5672/prod,amqp://app:pw@mq-2:5672/prod');
    expect(api.where).toBe('http://mq-1:15672');
    expect((api as unknown as { vhost: string }).vhost).toBe('prod');
  });
});
