// Your account: who you are signed in as, your access tokens and your sessions.
import { Container, Divider, Stack, Text, Title } from "@mantine/core";

import { useCurrentUser } from "../auth/session";
import { AccessTokens } from "./AccessTokens";
import { Sessions } from "./Sessions";

export function AccountPage() {
  const user = useCurrentUser();
  return (
    <Container size="xl" w="100%" py="md">
      <Stack>
        <div>
          <Title order={3}>Your account</Title>
          <Text size="sm" c="dimmed" data-testid="account-email">
            Signed in as {user.data?.email ?? "…"}
          </Text>
        </div>
        <AccessTokens />
        <Divider />
        <Sessions />
      </Stack>
    </Container>
  );
}
