// The signed-in user at the header's end: their name, their account, the audit trail (platform
// administrators only) and sign out.
import { Button, Group, Text } from "@mantine/core";
import { useState } from "react";
import { Link } from "react-router-dom";

import { useCurrentUser, useSignOut } from "./session";

export function UserMenu() {
  const user = useCurrentUser();
  const signOut = useSignOut();
  const [leaving, setLeaving] = useState(false);
  return (
    <Group gap="xs" wrap="nowrap">
      <Text size="sm" c="dimmed" data-testid="signed-in-user" truncate>
        {user.data?.display_name || user.data?.email}
      </Text>
      <Button size="compact-sm" variant="subtle" component={Link} to="/account" data-testid="nav-account">
        Account
      </Button>
      {user.data?.is_admin && (
        <Button size="compact-sm" variant="subtle" component={Link} to="/audit" data-testid="nav-audit">
          Audit
        </Button>
      )}
      <Button
        size="compact-sm"
        variant="subtle"
        loading={leaving}
        data-testid="sign-out"
        onClick={() => {
          setLeaving(true);
          void signOut();
        }}
      >
        Sign out
      </Button>
    </Group>
  );
}
