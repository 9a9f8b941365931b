/**
 * The example passwords of this repository's stack: the `change-me-<role>` users and the admin
 * `ragmail` / `ragmail` of rabbitmq/definitions.json and docker-compose.rabbitmq.yml, the
 * `change-me` secrets of deploy/config.yaml. Anyone who has read the repository knows them, so a
 * process given one stops at boot unless RAGMAIL_DEMO=true says it is a demo (rabbitmq/README.md,
 * "Passwords"). Other well-known passwords (RabbitMQ's own guest/guest) are not this stack's: the
 * broker itself lets `guest` in from the local host only.
 */

/** A `change-me…` placeholder, as every example secret of the stack's files begins. */
const PLACEHOLDER = /^change-?me/i;

/** User and password pairs of the stack's files that are no placeholder: the compose broker's admin. */
const EXAMPLE_ACCOUNTS: ReadonlyArray<{ user: string; password: string }> = [{ user: 'ragmail', password: 'ragmail' }];

/**
 * Variables outside the configuration that may carry a stack password to be checked: the compose
 * file hands Grafana's admin password to the `topology` service, which every other service waits for.
 */
export const STACK_PASSWORD_VARIABLES = ['GRAFANA_ADMIN_PASSWORD'] as const;

/** Whether `value` is an example password, or a URL carrying one (with its user, for the admin pair). */
function isExample(value: string): boolean {
  if (value.includes('://')) {
    let user: string;
    let password: string;
    try {
      const url = new URL(value);
      [user, password] = [decodeURIComponent(url.username), decodeURIComponent(url.password)];
    } catch {
      return false;
    }
    return PLACEHOLDER.test(password) || EXAMPLE_ACCOUNTS.some((account) => account.user === user && account.password === password);
  }
  return PLACEHOLDER.test(value.trim());
}

/** The names among `names` whose value in `env` is an example password of the stack, or a URL with one. */
export function exampleSecretsIn(env: Record<string, string | undefined>, names: readonly string[]): string[] {
  return names.filter((name) => {
    const value = env[name];
    return value !== undefined && value !== '' && isExample(value);
  });
}
