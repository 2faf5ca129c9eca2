"""The slice of Shopify's Admin GraphQL schema the local server implements, and its query cost.

The SDL below copies Shopify's own names and shapes (as of API version 2026-10)
for the fields memberkit calls, so a query the client sends is parsed and
validated by graphql-core exactly as Shopify would refuse a misspelt field or
a wrong argument type. ``query_cost`` follows Shopify's documented cost rules:
a mutation costs 10, an object 1, a connection 2 plus ``first`` times its node
cost, scalars and enums 0.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
    get_named_type,
    is_composite_type,
)

SDL = """
scalar JSON
scalar DateTime
scalar URL
scalar Decimal
scalar UnsignedInt64

interface Node { id: ID! }

type Query {
  shop: Shop!
  customer(id: ID!): Customer
  node(id: ID!): Node
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
}

type Shop {
  name: String!
  myshopifyDomain: String!
  currencyCode: String!
}

type Customer implements Node {
  id: ID!
  email: String
  firstName: String
  lastName: String
  displayName: String!
  metafield(namespace: String, key: String!): Metafield
  metafields(first: Int, namespace: String): MetafieldConnection!
}

type Metafield implements Node {
  id: ID!
  namespace: String!
  key: String!
  value: String!
  type: String!
  compareDigest: String!
  createdAt: DateTime!
  updatedAt: DateTime!
}

type MetafieldConnection { nodes: [Metafield!]! }

enum BulkOperationType { QUERY MUTATION }
enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }

type BulkOperation implements Node {
  id: ID!
  status: BulkOperationStatus!
  errorCode: BulkOperationErrorCode
  createdAt: DateTime!
  completedAt: DateTime
  objectCount: UnsignedInt64!
  rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64
  url: URL
  partialDataUrl: URL
  type: BulkOperationType!
  query: String!
}

type Mutation {
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
  flowTriggerReceive(handle: String, payload: JSON): FlowTriggerReceivePayload
  stagedUploadsCreate(input: [StagedUploadInput!]!): StagedUploadsCreatePayload
  bulkOperationRunMutation(
    mutation: String!, stagedUploadPath: String!, clientIdentifier: String
  ): BulkOperationRunMutationPayload
  discountCodeBasicCreate(
    basicCodeDiscount: DiscountCodeBasicInput!
  ): DiscountCodeBasicCreatePayload
}

input MetafieldsSetInput {
  ownerId: ID!
  namespace: String
  key: String!
  value: String!
  type: String
  compareDigest: String
}

enum MetafieldsSetUserErrorCode {
  APP_NOT_AUTHORIZED BLANK INCLUSION INVALID INVALID_COMPARE_DIGEST INVALID_TYPE
  INVALID_VALUE LESS_THAN_OR_EQUAL_TO PRESENT STALE_OBJECT TAKEN TOO_LONG TOO_SHORT
}

type MetafieldsSetUserError {
  field: [String!]
  message: String!
  code: MetafieldsSetUserErrorCode
  elementIndex: Int
}

type MetafieldsSetPayload {
  metafields: [Metafield!]
  userErrors: [MetafieldsSetUserError!]!
}

type UserError { field: [String!] message: String! }

type FlowTriggerReceivePayload { userErrors: [UserError!]! }

enum StagedUploadTargetGenerateUploadResource {
  BULK_MUTATION_VARIABLES COLLECTION_IMAGE FILE IMAGE MODEL_3D PRODUCT_IMAGE SHOP_IMAGE
  URL_REDIRECT_IMPORT VIDEO
}
enum StagedUploadHttpMethodType { POST PUT }

input StagedUploadInput {
  resource: StagedUploadTargetGenerateUploadResource!
  filename: String!
  mimeType: String!
  httpMethod: StagedUploadHttpMethodType
  fileSize: UnsignedInt64
}

type StagedUploadParameter { name: String! value: String! }

type StagedMediaUploadTarget {
  url: URL
  resourceUrl: URL
  parameters: [StagedUploadParameter!]!
}

type StagedUploadsCreatePayload {
  stagedTargets: [StagedMediaUploadTarget!]
  userErrors: [UserError!]!
}

enum BulkMutationErrorCode {
  INTERNAL_FILE_SERVER_ERROR INVALID_MUTATION INVALID_STAGED_UPLOAD_FILE NO_SUCH_FILE
  OPERATION_IN_PROGRESS
}

type BulkMutationUserError { field: [String!] message: String! code: BulkMutationErrorCode }

type BulkOperationRunMutationPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkMutationUserError!]!
}

enum DiscountBuyerSelection { ALL }
input DiscountCustomersInput { add: [ID!] remove: [ID!] }
input DiscountContextInput { all: DiscountBuyerSelection customers: DiscountCustomersInput }
input DiscountCustomerSelectionInput { all: Boolean customers: DiscountCustomersInput }
input DiscountAmountInput { amount: Decimal appliesOnEachItem: Boolean }
input DiscountCustomerGetsValueInput { percentage: Float discountAmount: DiscountAmountInput }
input DiscountItemsInput { all: Boolean }
input DiscountCustomerGetsInput { value: DiscountCustomerGetsValueInput items: DiscountItemsInput }
input DiscountMinimumSubtotalInput { greaterThanOrEqualToSubtotal: Decimal }
input DiscountMinimumRequirementInput { subtotal: DiscountMinimumSubtotalInput }
input DiscountCombinesWithInput {
  orderDiscounts: Boolean productDiscounts: Boolean shippingDiscounts: Boolean
}

input DiscountCodeBasicInput {
  title: String
  code: String
  startsAt: DateTime
  endsAt: DateTime
  usageLimit: Int
  appliesOncePerCustomer: Boolean
  context: DiscountContextInput
  customerSelection: DiscountCustomerSelectionInput
  customerGets: DiscountCustomerGetsInput
  minimumRequirement: DiscountMinimumRequirementInput
  combinesWith: DiscountCombinesWithInput
}

enum DiscountStatus { ACTIVE EXPIRED SCHEDULED }

type DiscountCodeBasic {
  title: String!
  status: DiscountStatus!
  startsAt: DateTime!
  endsAt: DateTime
  usageLimit: Int
  asyncUsageCount: Int!
  appliesOncePerCustomer: Boolean!
}

union DiscountCode = DiscountCodeBasic

type DiscountCodeNode implements Node { id: ID! codeDiscount: DiscountCode! }

enum DiscountErrorCode {
  ACTIVE_PERIOD_OVERLAP BLANK CONFLICT DUPLICATE EQUAL_TO GREATER_THAN
  GREATER_THAN_OR_EQUAL_TO IMPLICIT_DUPLICATE INCLUSION INTERNAL_ERROR INVALID
  LESS_THAN LESS_THAN_OR_EQUAL_TO MISSING_ARGUMENT PRESENT TAKEN TOO_LONG TOO_MANY_ARGUMENTS
  TOO_SHORT VALUE_OUTSIDE_RANGE
}

type DiscountUserError {
  field: [String!]
  message: String!
  code: DiscountErrorCode
  extraInfo: String
}

type DiscountCodeBasicCreatePayload {
  codeDiscountNode: DiscountCodeNode
  userErrors: [DiscountUserError!]!
}
"""

#: What one mutation costs, whatever it selects (Shopify's documented rule).
MUTATION_COST = 10


def make_schema() -> GraphQLSchema:
    """A fresh schema object (the server attaches its resolvers to it)."""
    return build_schema(SDL)


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """The requested cost of ``operation``, by Shopify's rules."""
    if operation.operation.value == "mutation":
        return MUTATION_COST * sum(
            1 for s in operation.selection_set.selections if isinstance(s, FieldNode)
        )
    root = schema.query_type
    assert root is not None
    return _selection_cost(operation.selection_set, root, fragments, variables, schema)


def _first(field: FieldNode, variables: dict[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value in ("first", "last"):
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                return int(variables.get(value.name.value) or 0)
    return 0


def _selection_cost(
    selection_set: SelectionSetNode | None,
    parent: Any,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    schema: GraphQLSchema,
) -> int:
    if selection_set is None:
        return 0
    cost = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            fields = getattr(parent, "fields", {})
            if name.startswith("__") or name not in fields:
                continue
            named = get_named_type(fields[name].type)
            if not is_composite_type(named):
                continue
            inner = _selection_cost(selection.selection_set, named, fragments, variables, schema)
            if named.name.endswith("Connection"):
                cost += 2 + _first(selection, variables) * max(1, inner)
            else:
                cost += 1 + inner
        elif isinstance(selection, InlineFragmentNode):
            target = parent
            if selection.type_condition is not None:
                found = schema.get_type(selection.type_condition.name.value)
                target = found if isinstance(found, GraphQLObjectType) else parent
            cost += _selection_cost(selection.selection_set, target, fragments, variables, schema)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found = schema.get_type(fragment.type_condition.name.value)
                cost += _selection_cost(
                    fragment.selection_set, found or parent, fragments, variables, schema
                )
    return cost
