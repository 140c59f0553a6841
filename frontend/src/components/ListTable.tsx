// The GUI's tables of items: a header row of column titles, then the rows.
import { Table, type TableProps } from "@mantine/core";
import type { ReactNode } from "react";

interface Props extends TableProps {
  titles: string[];
  /** Adds an untitled last column, over the rows' action buttons. */
  withActions?: boolean;
  /** The rows (Table.Tr). */
  children: ReactNode;
}

export function ListTable({ titles, withActions, children, ...table }: Props) {
  return (
    <Table {...table}>
      <Table.Thead>
        <Table.Tr>
          {/* By position: a CSV file's header may repeat a title. */}
          {titles.map((title, index) => (
            <Table.Th key={index}>{title}</Table.Th>
          ))}
          {withActions && <Table.Th />}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>{children}</Table.Tbody>
    </Table>
  );
}
