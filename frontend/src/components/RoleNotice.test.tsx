import { MantineProvider } from "@mantine/core";
import { render, screen } from "@testing-library/react";

import { RoleNotice } from "./RoleNotice";

/** What the notice says to a member with `role`, or null. */
function noticeFor(role: string | undefined): string | null {
  const view = render(
    <MantineProvider env="test">
      <RoleNotice role={role} needs="admin">
        only admins and owners set secrets.
      </RoleNotice>
    </MantineProvider>,
  );
  const said = screen.queryByText(/^You are a/)?.textContent ?? null;
  view.unmount();
  return said;
}

test("a member whose role is below the one needed is told who may", () => {
  expect(noticeFor("write")).toBe("You are a write member: only admins and owners set secrets.");
  expect(noticeFor("read")).toBe("You are a read member: only admins and owners set secrets.");
});

test("nothing is said to a member whose role allows it, nor while the role loads", () => {
  expect(noticeFor("admin")).toBeNull();
  expect(noticeFor("owner")).toBeNull();
  expect(noticeFor(undefined)).toBeNull();
});
